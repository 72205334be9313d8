"""Names heard on a number, in real Chromium: an agent confirms who is speaking; the number's next call pops up with
that name first, on every ringing agent's screen and on the desk phone's plain-text lookup.

Real listener, worker, API, Redis, FerretDB and Centrifugo; the PBX replays the recorded ring-all call
(``ringall_one_answers``: Anna, Boris and Vera ring, Vera answers), then the same call again with fresh ids
as the caller's next call.
"""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from callercard.settings import Settings
from tests.support.pbx import listening, recorded_pbx
from tests.support.processes import Process

RINGALL_CALLER = "+74959876543"  # the number ringall_one_answers was recorded with


async def holders_of_the_ringall_number(admin_api: httpx.AsyncClient, *holders: tuple[str, str]) -> None:
    """The ring-all caller's number carried by these accounts only (the demo's own account on it removed)."""
    assert (await admin_api.delete("/api/v1/customers/C-1004")).status_code == 204
    for account_id, holder in holders:
        body = {"holder": holder, "phones": [{"number": RINGALL_CALLER, "kind": "contact"}]}
        assert (await admin_api.put(f"/api/v1/customers/{account_id}", json=body)).status_code in (200, 201)


async def plain_name(pbx_api: httpx.AsyncClient) -> str:
    response = await pbx_api.get("/api/v1/lookup/name", params={"number": "8 (495) 987-65-43"})
    assert response.status_code == 200
    return response.text


async def test_an_agent_confirms_alexey_on_a_shared_number_and_his_next_call_pops_up_with_alexey_first(
        settings: Settings, service_env: dict[str, str], worker_process: Process, desks,
        admin_api: httpx.AsyncClient, pbx_api: httpx.AsyncClient) -> None:
    await holders_of_the_ringall_number(admin_api, ("C-2001", "Nadezhda Petrovna"), ("C-2002", "Alexey Petrov"))
    anna, vera = await desks("anna"), await desks("vera")
    async with recorded_pbx(settings, "ringall_one_answers", speed=0.2), listening(service_env, "heard-first"):
        await expect(vera.popups.locator(".caller-name")).to_have_text("Nadezhda Petrovna + Alexey Petrov",
                                                                       timeout=20_000)
        await expect(vera.card).to_have_count(1, timeout=10_000)  # Vera answered: her full card
        assert await plain_name(pbx_api) == "Nadezhda Petrovna + Alexey Petrov"  # the API remembers it now
        await vera.card.get_by_role("button", name="Alexey Petrov", exact=True).click()
        await expect(vera.notice).to_have_text("Noted: Alexey Petrov is speaking.")
        assert await plain_name(pbx_api) == "Alexey Petrov", "the desk phone follows at once (API memory forgot it)"
        await expect(vera.card.get_by_role("button", name="Alexey Petrov", exact=True)).to_have_attribute(
            "aria-pressed", "true")
        await expect(vera.bottom.locator(".caller-name")).to_have_text("Alexey Petrov")
        await vera.screenshot("1-vera-confirms-alexey")
        assert await vera.accessibility_problems() == [], "the card with its 'Who is speaking?' choices"
        await expect(vera.bottom).to_be_hidden(timeout=20_000)
    async with recorded_pbx(settings, "ringall_one_answers", speed=0.2, clone=1), \
            listening(service_env, "heard-next"):
        for desk in (anna, vera):
            await expect(desk.popups.locator(".caller-name")).to_have_text("Alexey Petrov", timeout=20_000)
            await expect(desk.popups.locator(".names")).to_have_text("Alexey Petrov (last time) · Nadezhda Petrovna")
        await anna.screenshot("2-next-call-alexey-first")
        await expect(vera.bottom).to_be_hidden(timeout=25_000)
    card = (await pbx_api.get("/api/v1/lookup", params={"number": RINGALL_CALLER})).json()
    assert (card["display_name"], card["names"], [(h["name"], h["count"]) for h in card["heard"]]) == (
        "Alexey Petrov", ["Alexey Petrov", "Nadezhda Petrovna"], [("Alexey Petrov", 1)])
    history = (await admin_api.get(f"/api/v1/numbers/{RINGALL_CALLER}/names/history")).json()
    assert [(h["action"], h["name"], h["previous"], h["by"]) for h in history] == [
        ("confirm", "Alexey Petrov", None, "agent:vera")]


async def test_a_name_typed_for_an_unknown_caller_shows_on_his_next_call_and_on_the_desk_phone(
        settings: Settings, service_env: dict[str, str], worker_process: Process, desks,
        admin_api: httpx.AsyncClient, pbx_api: httpx.AsyncClient) -> None:
    await holders_of_the_ringall_number(admin_api)  # nobody: an unknown number
    assert await plain_name(pbx_api) == ""
    vera = await desks("vera")
    async with recorded_pbx(settings, "ringall_one_answers", speed=0.2), listening(service_env, "heard-unknown"):
        await expect(vera.card.locator(".caller-name")).to_have_text("Unknown caller", timeout=25_000)
        await vera.card.get_by_label("Another name the caller gave").fill("Oleg Orlov")
        await vera.card.get_by_role("button", name="Save name").click()
        await expect(vera.notice).to_have_text("Noted: Oleg Orlov is speaking.")
        await vera.screenshot("1-typed-a-name")
        await vera.card.get_by_label("Another name the caller gave").fill("Oleg Orlov-Petrov")
        await vera.card.get_by_role("button", name="Save name").click()  # a wrong spelling, corrected
        await expect(vera.notice).to_have_text("Corrected: Oleg Orlov-Petrov is speaking, not Oleg Orlov.")
        await expect(vera.bottom).to_be_hidden(timeout=20_000)
    assert await plain_name(pbx_api) == "Oleg Orlov-Petrov"
    async with recorded_pbx(settings, "ringall_one_answers", speed=0.2, clone=1), \
            listening(service_env, "heard-unknown-next"):
        await expect(vera.popups.locator(".caller-name")).to_have_text("Oleg Orlov-Petrov", timeout=20_000)
        await vera.screenshot("2-next-call-known-voice")
        await expect(vera.bottom).to_be_hidden(timeout=25_000)
    card = (await pbx_api.get("/api/v1/lookup", params={"number": RINGALL_CALLER})).json()
    assert (card["kind"], card["display_name"], card["accounts"], [(h["name"], h["count"]) for h in card["heard"]]) \
        == ("unknown", "Oleg Orlov-Petrov", [], [("Oleg Orlov-Petrov", 1)])
    history = (await admin_api.get(f"/api/v1/numbers/{RINGALL_CALLER}/names/history")).json()
    assert [(h["action"], h["name"], h["previous"]) for h in history] == [
        ("confirm", "Oleg Orlov", None), ("correct", "Oleg Orlov-Petrov", "Oleg Orlov")]
