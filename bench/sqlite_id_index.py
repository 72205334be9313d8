"""Experiment on the test backend only: give FerretDB v1.24.2 (SQLite) an ``_id`` index its queries can use.

FerretDB v1.24.2's SQLite backend indexes ``_id`` as ``_ferretdb_sjson->"_id"`` but filters on
``_ferretdb_sjson->'$._id'``; SQLite matches index expressions as written, so every ``_id`` lookup
is a table scan (``EXPLAIN QUERY PLAN``: ``SCAN``), ended early by ``LIMIT 1`` on a hit and never on
a miss. This adds, out of band, an index on the expression the queries use, to measure what lookups
cost when the store answers ``_id`` lookups from an index (as MongoDB, the production store, does).
It changes nothing in callercard; run it only on bench databases.

    python -m bench.sqlite_id_index bench_scale_1000000 bench_scale_10000
"""

from __future__ import annotations

import argparse
import sqlite3

from bench.common import VAR

QUERY_EXPRESSION = "_ferretdb_sjson->'$._id'"


def add_index(database: str) -> list[str]:
    path = VAR / "ferretdb" / "data" / f"{database}.sqlite"
    if not path.is_file():
        raise SystemExit(f"{path}: no such FerretDB database")
    connection = sqlite3.connect(path, timeout=60)
    try:
        tables = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_ferretdb%' ESCAPE '\\'")]
        for table in tables:
            connection.execute(f'CREATE INDEX IF NOT EXISTS "{table}__id_query" ON "{table}" ({QUERY_EXPRESSION})')
        connection.commit()
        return [row[-1] for row in connection.execute(
            f"EXPLAIN QUERY PLAN SELECT 1 FROM \"{tables[0]}\" WHERE {QUERY_EXPRESSION} = '\"x\"'")] if tables else []
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sqlite_id_index", description=__doc__.splitlines()[0])
    parser.add_argument("databases", nargs="+")
    for database in parser.parse_args().databases:
        print(database, add_index(database))


if __name__ == "__main__":
    main()
