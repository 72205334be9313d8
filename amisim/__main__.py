"""``python -m amisim CAPTURE [CAPTURE ...]``: replay recorded Asterisk sessions to AMI clients (the demo's PBX).

    python -m amisim CAPTURE [CAPTURE ...] --port 5038 --username callercard --secret S --speed 1 --loop
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

from amisim.capture import load_capture
from amisim.server import AmiSimulator

log = logging.getLogger("amisim")


async def _main(args: argparse.Namespace) -> None:
    first, *rest = [load_capture(path) for path in args.captures]
    sim = AmiSimulator(first, username=args.username, secret=args.secret, speed=args.speed, host=args.host,
                       port=args.port, loop_forever=args.loop, then=rest)
    await sim.start()
    log.info("replaying %s on %s:%d (speed %s%s)", ", ".join(c.name for c in sim.playlist), sim.host, sim.port,
             args.speed, ", looping" if args.loop else "")
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m amisim",
                                     description="Replay a recorded Asterisk AMI session to AMI clients.")
    parser.add_argument("captures", type=Path, nargs="+", metavar="CAPTURE",
                        help=".jsonl AMI captures, replayed in turn")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5038)
    parser.add_argument("--username", default="callercard")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--speed", type=float, default=1.0, help="replay speed factor (2 = twice as fast)")
    parser.add_argument("--loop", action="store_true", help="replay forever, each round with fresh call ids")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args))


if __name__ == "__main__":
    main()
