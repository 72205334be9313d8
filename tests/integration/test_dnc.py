"""The do-not-call registry on FerretDB, through the real API and CLI."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.processes import run_cli

pytestmark = pytest.mark.both_stores  # store-sensitive: runs on ferretdb2 too (tests/support/stores.py)


async def test_flag_in_one_format_check_in_another(admin_api: httpx.AsyncClient, pbx_api: httpx.AsyncClient) -> None:
    flagged = await admin_api.put("/api/v1/dnc/8 (903) 111-22-33", json={"reason": "asked_not_to_call"})
    assert flagged.status_code == 201, flagged.text
    assert flagged.json()["number"] == "+79031112233"
    plain = await pbx_api.get("/api/v1/dnc/check", params={"number": "+79031112233"})
    assert (plain.status_code, plain.headers["content-type"].split(";")[0], plain.text) == (200, "text/plain", "1")
    other = await pbx_api.get("/api/v1/dnc/check", params={"number": "+79031112234"})
    assert other.text == "0"
    as_json = await pbx_api.get("/api/v1/dnc/check", params={"number": "89031112233"},
                                headers={"Accept": "application/json"})
    assert as_json.json() == {"number": "+79031112233", "flagged": True, "degraded": False}


async def test_the_card_shows_the_flag_with_reason_and_who(admin_api: httpx.AsyncClient,
                                                           pbx_api: httpx.AsyncClient) -> None:
    await admin_api.put("/api/v1/dnc/84951234567", json={"reason": "other", "note": "lawyer's office"})
    card = (await pbx_api.get("/api/v1/lookup", params={"number": "+7 495 123 45 67"})).json()
    assert card["do_not_call"]["flagged"] is True
    assert (card["do_not_call"]["reason"], card["do_not_call"]["note"], card["do_not_call"]["by"]) == (
        "other", "lawyer's office", "admin")
    await admin_api.delete("/api/v1/dnc/84951234567")
    assert (await pbx_api.get("/api/v1/lookup", params={"number": "84951234567"})).json()["do_not_call"] is None


async def test_unflag_keeps_the_audit_trail(admin_api: httpx.AsyncClient) -> None:
    await admin_api.put("/api/v1/dnc/89031112233", json={"reason": "hung_up_after_intro"})
    edited = await admin_api.put("/api/v1/dnc/+79031112233", json={"reason": "abroad", "note": "moved to Riga"})
    assert edited.status_code == 200
    assert (await admin_api.delete("/api/v1/dnc/89031112233")).status_code == 204
    assert (await admin_api.get("/api/v1/dnc/89031112233")).status_code == 404
    history = (await admin_api.get("/api/v1/dnc/89031112233/history")).json()
    assert [(h["action"], h["reason"], h["by"]) for h in history] == [
        ("flag", "hung_up_after_intro", "admin"), ("edit", "abroad", "admin"), ("unflag", None, "admin")]
    assert (await admin_api.delete("/api/v1/dnc/89031112233")).status_code == 404


async def test_an_expired_flag_no_longer_counts(admin_api: httpx.AsyncClient, pbx_api: httpx.AsyncClient) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    await admin_api.put("/api/v1/dnc/84950000001", json={"reason": "abroad", "expires_at": past})
    await admin_api.put("/api/v1/dnc/84950000002", json={"reason": "abroad", "expires_at": future})
    checks = [(await pbx_api.get("/api/v1/dnc/check", params={"number": n})).text
              for n in ("84950000001", "84950000002")]
    assert checks == ["0", "1"]
    active = (await admin_api.get("/api/v1/dnc")).json()
    assert [e["number"] for e in active] == ["+74950000002"]
    # Flagging an expired number again starts a new entry.
    assert (await admin_api.put("/api/v1/dnc/84950000001", json={"reason": "invalid_number"})).status_code == 201


async def test_bad_dnc_input_names_the_field(admin_api: httpx.AsyncClient) -> None:
    for path, body, field in [("/api/v1/dnc/84951234567", {"reason": "other"}, "body"),
                              ("/api/v1/dnc/84951234567", {"reason": "bored"}, "reason"),
                              ("/api/v1/dnc/12ab", {"reason": "abroad"}, "number"),
                              ("/api/v1/dnc/anonymous", {"reason": "abroad"}, "number")]:
        response = await admin_api.put(path, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["message"].startswith(field), response.json()


async def test_csv_export_reimports_to_the_same_set(admin_api: httpx.AsyncClient, db, tmp_path: Path,
                                                    service_env: dict[str, str]) -> None:
    await admin_api.put("/api/v1/dnc/89031112233", json={"reason": "asked_not_to_call"})
    await admin_api.put("/api/v1/dnc/84951234567", json={"reason": "other", "note": "a note, with \"quotes\""})
    await admin_api.put("/api/v1/dnc/84957654321", json={"reason": "abroad",
                                                        "expires_at": "2031-01-01T00:00:00Z"})
    exported = (await admin_api.get("/api/v1/dnc/export")).text
    path = tmp_path / "dnc.csv"
    path.write_text(exported + "8 (999) bad,abroad,,,,\n")
    await db["dnc"].delete_many({})

    result = run_cli(service_env, "import", "dnc", str(path))
    assert result.returncode == 0, result.stderr
    assert "created 3, updated 0, unchanged 0, rejected 1" in result.stdout
    assert "line 5: number:" in result.stdout

    def comparable(text: str) -> list[dict]:
        rows = ({k: v for k, v in row.items() if k != "flagged_at"} for row in csv.DictReader(io.StringIO(text)))
        return sorted(rows, key=lambda row: row["number"])

    assert comparable((await admin_api.get("/api/v1/dnc/export")).text) == comparable(exported)


async def test_the_list_filtered_by_reason_pages_in_number_order(admin_api: httpx.AsyncClient) -> None:
    numbers = [f"+7495000{n:04d}" for n in (7, 3, 9, 1, 5, 8, 2, 6)]
    for i, number in enumerate(numbers):
        reason = "abroad" if i % 3 else "invalid_number"
        assert (await admin_api.put(f"/api/v1/dnc/{number}", json={"reason": reason})).status_code == 201
    abroad = sorted(n for i, n in enumerate(numbers) if i % 3)
    for params in ({"reason": "abroad"}, {"reason": "abroad", "flagged_by": "admin"}):
        pages = [(await admin_api.get("/api/v1/dnc", params={**params, "limit": 2, "skip": skip})).json()
                 for skip in range(0, len(abroad) + 2, 2)]
        assert [[(e["number"], e["reason"]) for e in page] for page in pages] == [
            [(n, "abroad") for n in abroad[i:i + 2]] for i in range(0, len(abroad) + 2, 2)]
