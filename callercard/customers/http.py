"""Admin API for customer accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response, status
from pydantic import ValidationError

from callercard.api.auth import AdminOnly
from callercard.api.deps import ServicesDep
from callercard.customers import services as accounts
from callercard.customers.schemas import (
    Account,
    AccountId,
    AccountIn,
    AccountWithId,
    BulkResult,
    UpsertResult,
)
from callercard.errors import InvalidInput, describe_validation_error

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])
MAX_BULK = 1000
AccountIdPath = Annotated[AccountId, Path(description="account (contract) id")]


@router.put("/{account_id}", summary="Create or replace an account", response_model=Account)
async def put_account(services: ServicesDep, _caller: AdminOnly, account_id: AccountIdPath, body: AccountIn,
                      response: Response) -> Account:
    settings = services.settings
    account = accounts.to_account(AccountWithId(id=account_id, **body.model_dump()),
                                  region=settings.default_region, area_code=settings.default_area_code)
    [result], changed_numbers = await accounts.upsert_accounts(services.db, accounts=[account])
    await services.cards_changed(changed_numbers)
    response.status_code = status.HTTP_201_CREATED if result is UpsertResult.CREATED else status.HTTP_200_OK
    return account


@router.get("/{account_id}", summary="One account", response_model=Account)
async def get_account(services: ServicesDep, _caller: AdminOnly, account_id: AccountIdPath) -> Account:
    return await accounts.get_account(services.db, account_id=account_id)


@router.delete("/{account_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an account")
async def delete_account(services: ServicesDep, _caller: AdminOnly, account_id: AccountIdPath) -> Response:
    changed_numbers = await accounts.delete_account(services.db, account_id=account_id)
    await services.cards_changed(changed_numbers)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(":bulk", summary="Create or replace many accounts; bad ones are reported, the rest written",
             response_model=BulkResult)
async def bulk_upsert(services: ServicesDep, _caller: AdminOnly,
                      body: Annotated[list[dict[str, object]], Body(max_length=MAX_BULK)]) -> BulkResult:
    settings = services.settings
    valid: list[Account] = []
    rejected: list[dict[str, str]] = []
    for index, item in enumerate(body):
        try:
            incoming = AccountWithId.model_validate(item)
            valid.append(accounts.to_account(incoming, region=settings.default_region,
                                             area_code=settings.default_area_code))
        except InvalidInput as error:
            rejected.append({"index": str(index), "id": str(item.get("id", "")), "reason": error.message})
        except ValidationError as error:
            rejected.append({"index": str(index), "id": str(item.get("id", "")),
                             "reason": describe_validation_error(error)})
    results, changed_numbers = await accounts.upsert_accounts(services.db, accounts=valid)
    await services.cards_changed(changed_numbers)
    return accounts.tally(results, rejected)

