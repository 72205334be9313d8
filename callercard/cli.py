"""The ``callercard`` command: one subcommand per process, plus admin commands.

A composition root: each process subcommand hands the settings to that process's own root
(``callercard.api.app``, ``worker.main``, ``asterisk.main``), imported only when it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError
from pymongo.errors import PyMongoError

from callercard.settings import Settings, demo_bind_problem, is_loopback, load_settings

if TYPE_CHECKING:
    from callercard.mongo import Database

log = logging.getLogger("callercard")
T = TypeVar("T")


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_api(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from callercard.api.app import create_app

    host = args.host or settings.api_host
    problem = demo_bind_problem(settings, host=host)
    if problem:
        print(f"callercard: refusing to start: {problem}", file=sys.stderr)
        return 2
    if settings.demo_enabled and not is_loopback(host):
        log.warning("the demo is on and the API listens on %s: anyone who reaches it can take the demo agents' "
                    "tokens (CALLERCARD_DEMO_ALLOW_NON_LOOPBACK=true)", host)
    uvicorn.run(create_app(settings), host=host, port=args.port or settings.api_port,
                log_level=settings.log_level.lower(), access_log=False,
                timeout_keep_alive=settings.api_keepalive_seconds)
    return 0


def run_worker(settings: Settings, args: argparse.Namespace) -> int:
    if settings.worker_metrics_port:
        from worker import metrics

        metrics.prepare(settings.worker_metrics_dir)  # before prometheus_client is imported
        metrics.serve(settings.worker_metrics_port)
    from worker import main as worker

    worker.run(settings, concurrency=args.concurrency, queues=args.queues.split(","))
    return 0


def run_listener(settings: Settings, args: argparse.Namespace) -> int:
    from asterisk import main as listener

    async def until_terminated() -> None:
        # SIGTERM (a restart) stops the listener cleanly: its queued work is finished and its live calls handed over.
        terminated = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated.set)
        running = asyncio.create_task(listener.run(settings))
        await asyncio.wait([running, asyncio.create_task(terminated.wait())], return_when=asyncio.FIRST_COMPLETED)
        # Python 3.11's wait_for can swallow a cancellation that meets a finishing connect: cancel again if it did
        # (the shutdown it starts takes up to ~6 s, and must not be cut short by a second cancellation).
        while not running.done():
            running.cancel()
            await asyncio.wait([running], timeout=10)
        with contextlib.suppress(asyncio.CancelledError):
            running.result()

    asyncio.run(until_terminated())
    return 0


BATCH_MONGO_TIMEOUT_MS = 60_000


def _with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work(db)`` with a MongoDB client that is closed afterwards.

    Admin commands write in bulk and nobody waits on them live: they get a long store timeout,
    unlike the processes serving calls.
    """
    from callercard import mongo

    batch_settings = settings.model_copy(update={"mongo_timeout_ms": BATCH_MONGO_TIMEOUT_MS})

    async def main() -> T:
        client = mongo.connect(batch_settings)
        try:
            db = mongo.database(client, settings)
            result = await work(db)
            # Also here, not only at the API's start: an admin may import before any API ever ran. After the work,
            # so an unreachable store fails the command once, not twice. A failure is logged, never fatal.
            await mongo.ensure_indexes(db)
            return result
        finally:
            await client.close()

    return asyncio.run(main())


def run_import(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from callercard.customers.importer import ImportSummary, count_rows, import_customers
    from callercard.dnc import services as dnc_services
    from callercard.dnc.importer import import_dnc
    from callercard.dnc.schemas import DncChange
    from callercard.webhooks.events import WebhookEmitter
    from callercard.webhooks.schemas import EventKind
    from worker.app import create_celery
    from worker.queue import CeleryQueue

    path = Path(args.file)
    if not path.is_file():
        print(f"callercard: {path}: no such file", file=sys.stderr)
        return 2
    from callercard import redis_state

    # The same line on a terminal and in a log: rows done, share, rate and time left, redrawn 5 times a second.
    progress = tqdm(total=count_rows(path), desc=args.kind, unit=" rows", ascii=" #", mininterval=0.2,
                    file=sys.stderr, bar_format="{desc} [{bar:30}] {n}/{total} {percentage:3.0f}% {rate_fmt} "
                                                "ETA {remaining}")
    region, area_code = settings.default_region, settings.default_area_code

    async def work(db: Database) -> ImportSummary:
        redis_client = redis_state.connect(settings)
        unannounced = False

        async def announce(numbers: list[str]) -> None:  # the API processes' cached cards of these numbers
            nonlocal unannounced
            # Once Redis failed, do not wait on it for every batch: the cards expire on their own.
            unannounced = unannounced or not await redis_state.announce_changed_numbers(redis_client, numbers)

        try:
            if args.kind == "customers":
                return await import_customers(db, path, region=region, area_code=area_code, announce=announce,
                                              progress=progress)
            webhooks = WebhookEmitter(db=db, queue=CeleryQueue(create_celery(settings)))

            async def changed(change: DncChange) -> None:  # other systems hear of it (webhooks)
                data, key = dnc_services.changed_event(change)
                await webhooks.emit(EventKind.DNC_CHANGED, data, key=key, occurred_at=change.at)

            return await import_dnc(db, path, region=region, area_code=area_code, by=f"import:{path.name}",
                                    announce=announce, changed=changed, progress=progress)
        finally:
            if unannounced:
                print(f"callercard: Redis was unreachable; the API may answer old cards for up to "
                      f"{settings.lookup_local_cache_seconds:g} s", file=sys.stderr)
            await redis_client.aclose()

    summary = _with_db(settings, work)
    print(summary.report())
    return 0


def run_keys(settings: Settings, args: argparse.Namespace) -> int:
    from callercard.keys import store

    if args.action == "create":
        if (args.role == "agent") != bool(args.agent):
            print("callercard: --agent is required for --role agent, and only for it", file=sys.stderr)
            return 2
        key_id, key = _with_db(settings, lambda db: store.create(db, role=args.role, name=args.name or args.agent
                                                                 or args.role, agent_id=args.agent))
        print(f"key id {key_id} ({args.role}); the key, shown only now:\n{key}")
    elif args.action == "revoke":
        if not _with_db(settings, lambda db: store.revoke(db, args.key_id)):
            print(f"callercard: no active key {args.key_id}", file=sys.stderr)
            return 1
        print(f"revoked {args.key_id}")
    else:
        for doc in _with_db(settings, store.all_keys):
            state = "revoked" if doc["revoked_at"] else "active"
            print(f"{doc['key_id']}  {doc['role']:<6} {doc['name']:<24} {state}  created {doc['created_at']:%Y-%m-%d}")
    return 0


def _queues(value: str) -> str:
    chosen = [q.strip() for q in value.split(",") if q.strip()]
    if not chosen or set(chosen) - {"calls", "webhooks"}:
        raise argparse.ArgumentTypeError("choose calls, webhooks or calls,webhooks")
    return ",".join(chosen)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callercard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    api = commands.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.set_defaults(handler=run_api)

    worker = commands.add_parser("worker", help="run the Celery worker")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument("--queues", default="calls,webhooks", type=_queues,
                        help="which work: calls (lookups, call records), webhooks (deliveries), or both (default)")
    worker.set_defaults(handler=run_worker)

    listener = commands.add_parser("listener", help="run the Asterisk AMI listener")
    listener.set_defaults(handler=run_listener)

    importer = commands.add_parser("import", help="import data files (CSV or JSON Lines)")
    kinds = importer.add_subparsers(dest="kind", required=True)
    for kind, help_text in (("customers", "customer accounts, upsert by id"),
                            ("dnc", "do-not-call numbers, as `GET /api/v1/dnc/export` writes them")):
        sub = kinds.add_parser(kind, help=help_text)
        sub.add_argument("file")
        sub.set_defaults(handler=run_import)

    keys = commands.add_parser("keys", help="API keys: stored hashed, shown once")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key")
    create.add_argument("--role", choices=["admin", "supervisor", "agent", "pbx", "crm"], required=True)
    create.add_argument("--agent", help="the agent id, for --role agent")
    create.add_argument("--name", help="who holds it (shown in audit trails)")
    revoke = actions.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    actions.add_parser("list", help="list keys (never the keys themselves)")
    keys.set_defaults(handler=run_keys)
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
    try:
        return int(args.handler(settings, args))
    except PyMongoError as error:
        print(f"\ncallercard: MongoDB failed ({type(error).__name__}: {str(error)[:200]}); what was written before "
              "stays written, and rerunning the same command is safe", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
