"""Record AMI captures from the real Asterisk: ``python -m tools.record_capture [NAME ...]``.

Starts nothing itself: run ``scripts/asterisk.sh --profile record up`` first (it needs
``CALLERCARD_TEST_ASTERISK``). For each scenario of ``tools/pbx_scenarios.py`` (all when none is named) it
starts the phones, logs in to the AMI as callercard, records every byte in and out while the scenario drives
the PBX, polls ``CoreShowChannels`` until Asterisk has no channel left, logs off and writes
``tests/captures/<name>.jsonl`` in the captures' format: a header line (``capture``, ``asterisk``,
``recorded``), then ``{"t", "dir", "raw"}`` per message.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import logging
from pathlib import Path

from tools.ami_client import AmiClient
from tools.pbx_scenarios import SCENARIOS, Pbx, PbxScenario
from tools.phones import Phone

ROOT = Path(__file__).resolve().parents[1]
FORMAT = "one JSON object per line: t (s since connect), dir (in|out), raw (exact AMI text)"
log = logging.getLogger("record_capture")


def read_env(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run scripts/asterisk.sh --profile record up first")
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


async def record(scenario: PbxScenario, *, env: dict[str, str], out: Path, logs: Path) -> Path:
    phones = {number: Phone(number=number, port=int(env[f"CALLERCARD_LIVE_PHONE_{number}_PORT"]),
                            pbx_sip_port=int(env["CALLERCARD_LIVE_SIP_PORT"]), log_dir=logs / scenario.name)
              for number in ("201", "202", "203")}
    for number, calls in scenario.phones.items():
        phones[number].serve(calls).ready()
    ami = AmiClient(host="127.0.0.1", port=int(env["CALLERCARD_LIVE_AMI_PORT"]),
                    username=env["CALLERCARD_AMI_USERNAME"], secret=env["CALLERCARD_AMI_SECRET"])
    await ami.connect()
    settings: dict[str, str] = {}
    done = False
    try:
        [settings] = await ami.send({"Action": "CoreSettings"})
        await asyncio.sleep(0.5)
        pbx = Pbx(ami=ami, phones=phones)
        await scenario.drive(pbx)
        await pbx.settle()
        await asyncio.sleep(1.0)
        await ami.wait_idle(timeout=90)
        for phone in phones.values():
            phone.wait(timeout=15)
        done = True
    finally:
        for phone in phones.values():
            phone.stop()
        await ami.close()
        if not done:
            _write(scenario, settings, ami, logs / f"{scenario.name}.failed.jsonl")
    path = _write(scenario, settings, ami, out / f"{scenario.name}.jsonl")
    failed = {number: phone.results for number, phone in phones.items() if any(phone.results)}
    if failed:
        log.warning("%s: a phone's script did not run as written (SIPp exit statuses %s; logs in %s)",
                    scenario.name, failed, logs / scenario.name)
    return path


def _write(scenario: PbxScenario, settings: dict[str, str], ami: AmiClient, path: Path) -> Path:
    header = {"capture": scenario.name, "asterisk": settings.get("AsteriskVersion", "?"),
              "recorded": datetime.date.today().isoformat(), "format": FORMAT,
              "pbx": "tests/captures/asterisk-conf-pjsip/ (timestampevents = yes)", "scenario": scenario.summary}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for item in [header, *ami.entries]:
            handle.write(json.dumps(item) + "\n")
    return path


async def main_async(names: list[str], out: Path) -> None:
    env = {**read_env(ROOT / "var/record/callercard.env"), **read_env(ROOT / "var/record/asterisk/pbx.env")}
    for name in names or list(SCENARIOS):
        path = await record(SCENARIOS[name], env=env, out=out, logs=ROOT / "var/record/phones")
        log.info("recorded %s", path)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.record_capture", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", choices=[[], *SCENARIOS], metavar="NAME", help=", ".join(SCENARIOS))
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "captures")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main_async(args.names, args.out))


if __name__ == "__main__":
    main()
