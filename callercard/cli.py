"""The ``callercard`` command: one subcommand per process, plus admin commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from callercard.settings import Settings, load_settings

log = logging.getLogger("callercard")


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_api(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from callercard.api.app import create_app

    uvicorn.run(create_app(settings), host=args.host or settings.api_host, port=args.port or settings.api_port,
                log_level=settings.log_level.lower(), access_log=False)
    return 0


def run_worker(settings: Settings, args: argparse.Namespace) -> int:
    from worker.app import create_celery
    from worker.runtime import WorkerRuntime
    from worker.tasks import register_tasks

    app = create_celery(settings)
    register_tasks(app, WorkerRuntime(settings))
    app.worker_main(["worker", f"--loglevel={settings.log_level}", f"--concurrency={args.concurrency}",
                     "--pool=prefork", "--without-gossip", "--without-mingle", "-Q", "callercard"])
    return 0


def run_listener(settings: Settings, args: argparse.Namespace) -> int:
    from asterisk import listener

    asyncio.run(listener.run(settings))
    return 0


def run_import_customers(settings: Settings, args: argparse.Namespace) -> int:
    from callercard import mongo
    from callercard.customers.importer import count_rows, import_customers
    from callercard.progress import ProgressBar

    path = Path(args.file)
    if not path.is_file():
        print(f"callercard: {path}: no such file", file=sys.stderr)
        return 2

    async def main() -> str:
        client = mongo.connect(settings)
        try:
            progress = ProgressBar(total=count_rows(path), label="customers")
            summary = await import_customers(mongo.database(client, settings), path,
                                             region=settings.default_region,
                                             area_code=settings.default_area_code, progress=progress)
            return summary.report()
        finally:
            await client.close()

    print(asyncio.run(main()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callercard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    api = commands.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.set_defaults(handler=run_api)

    worker = commands.add_parser("worker", help="run the Celery worker")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.set_defaults(handler=run_worker)

    listener = commands.add_parser("listener", help="run the Asterisk AMI listener")
    listener.set_defaults(handler=run_listener)

    importer = commands.add_parser("import", help="import data files")
    kinds = importer.add_subparsers(dest="kind", required=True)
    customers = kinds.add_parser("customers", help="customer accounts from CSV or JSON Lines")
    customers.add_argument("file")
    customers.set_defaults(handler=run_import_customers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ValidationError as error:
        problems = "\n".join(f"  CALLERCARD_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                             for e in error.errors())
        print(f"callercard: invalid settings:\n{problems}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    return int(args.handler(settings, args))


if __name__ == "__main__":
    sys.exit(main())
