"""The shipped AMI user (asterisk/conf/manager_callercard.conf, as scripts/asterisk.sh loads it) against the real
Asterisk: every action callercard sends is allowed, and one of the ``system`` class (which it no longer grants)
is refused. Asterisk answers a refused class with ``Message: Permission denied`` before looking at the action."""

from __future__ import annotations

import re

import pytest

from asterisk.actions import AmiActions, AmiAddress
from asterisk.event_filter import filter_action
from callercard.errors import PbxRefused
from callercard.ports import ActionAnswer
from tests.support.processes import ROOT
from tools.ami_client import AmiClient

DENIED = "Permission denied"
SHIPPED = ROOT / "asterisk" / "conf" / "manager_callercard.conf"


def actions_in_the_product() -> set[str]:
    """Every AMI action the listener and the API send, as written in their source."""
    sent = set()
    for path in (ROOT / "asterisk").glob("*.py"):
        sent |= set(re.findall(r'"Action": "(\w+)"', path.read_text(encoding="utf-8")))
    return sent


async def answered(attempt: object) -> str:
    """Asterisk's message for one adapter call: its answer, or the message it refused with."""
    try:
        answer = await attempt  # type: ignore[misc]
    except PbxRefused as refused:
        return str(refused.details["asterisk_message"])
    assert isinstance(answer, ActionAnswer)
    return answer.message


def test_the_shipped_user_grants_no_system_class() -> None:
    grants = dict(re.findall(r"^(read|write)\s*=\s*(\S+)", SHIPPED.read_text(encoding="utf-8"), flags=re.MULTILINE))
    assert "system" not in grants["write"].split(","), grants


async def test_every_action_callercard_sends_is_allowed_and_a_system_one_is_refused(
        live_pbx: dict[str, str], service_env: dict[str, str]) -> None:
    port = int(live_pbx["CALLERCARD_LIVE_AMI_PORT"])
    user, secret = service_env["CALLERCARD_AMI_USERNAME"], service_env["CALLERCARD_AMI_SECRET"]
    api = AmiActions(AmiAddress(host="127.0.0.1", port=port, username=user, secret=secret))
    member = {"queue": "support", "interface": "PJSIP/203"}
    # The API's actions, through the product's own adapter, each on an object that exists or harmlessly does not.
    said = {
        "Hangup": await answered(api.hangup(channel="PJSIP/none-00000000")),
        "QueueAdd": await answered(api.queue_add(**member, member_name="Vera Kozlova", state_interface="PJSIP/203")),
        "QueuePause": await answered(api.queue_pause(**member, paused=True, reason="permission check")),
        "QueueRemove": await answered(api.queue_remove(**member)),
        "Originate": await answered(api.originate(channel="Local/s@callercard-permission-check", context="pstn",
                                                  exten="84950000000", caller_id="callercard", variables={},
                                                  action_id="permission-check")),
    }
    # The listener's, on a session like its own.
    ami = AmiClient(host="127.0.0.1", port=port, username=user, secret=secret, events="call,agent,system")
    await ami.connect()
    try:
        for action in ("Ping", "CoreShowChannels", "QueueStatus"):
            [first, *_] = await ami.send({"Action": action})
            said[action] = str(first.get("Message", first.get("Response")))
        [system] = await ami.send({"Action": "ModuleCheck", "Module": "app_queue"})
        # Filter needs the system class: refused here, as the listener expects (the snippet's eventfilter filters).
        [refused] = await ami.send(filter_action())
        said["Filter"] = str(refused.get("Message"))
    finally:
        await ami.close()
    assert set(said) >= actions_in_the_product(), f"an action callercard sends is not checked here: {said}"
    assert {action: message for action, message in said.items() if message == DENIED} == {"Filter": DENIED}, said
    assert (system.get("Response"), system.get("Message")) == ("Error", DENIED), system


@pytest.fixture(autouse=True)
def _needs_the_live_pbx(live_pbx: dict[str, str]) -> None:
    """Skipped, like the other live tests, without CALLERCARD_TEST_ASTERISK."""
