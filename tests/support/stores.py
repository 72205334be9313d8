"""The stores the tests with real servers run on (a pytest plugin, loaded by ``tests/conftest.py``).

Every such test runs on the default store: ``sqlite`` (FerretDB v1.24.2), or the one ``CALLERCARD_STORE``
names, on the services script's ``test`` profile. Tests marked ``both_stores`` (store-sensitive: they read
and write the store in the ways production does) run once more on ``ferretdb2`` (FerretDB v2.5 with
DocumentDB, which uses its indexes as MongoDB does), on its own profile and ports (``test-ferretdb2``), when
``CALLERCARD_FERRETDB2_DIR`` names the folder that store comes from; without it they skip, saying so. Tests
marked ``indexed_store_only`` (what a query plan shows) run on ferretdb2 only. The test ids say the store:
``test_x[sqlite]``, ``test_x[ferretdb2]``.
"""

from __future__ import annotations

import os

import asyncpg
import pytest
from pymongo import MongoClient

from callercard import mongo
from tests.support.processes import services_up

SQLITE, FERRETDB2 = "sqlite", "ferretdb2"
BOTH_STORES = "both_stores"
INDEXED_STORE_ONLY = "indexed_store_only"
INDEXED_STORES = {FERRETDB2}  # FerretDB v1 never uses an index, not even _id's
DEFAULT_STORE = os.environ.get("CALLERCARD_STORE", SQLITE)
# store -> the services script's profile it runs on
PROFILES = {DEFAULT_STORE: "test"} | ({} if DEFAULT_STORE == FERRETDB2 else {FERRETDB2: "test-ferretdb2"})
NO_FERRETDB2 = ("ferretdb2 store: set CALLERCARD_FERRETDB2_DIR to the folder holding its tarball and SHA256SUMS "
                "(.ci/run sets it) to run this test on it too")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{BOTH_STORES}: also run on the ferretdb2 store (tests/support/stores.py)")
    config.addinivalue_line("markers", f"{INDEXED_STORE_ONLY}: run only on a store that uses indexes (ferretdb2)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker(INDEXED_STORE_ONLY):
        stores = [store for store in PROFILES if store in INDEXED_STORES]
    elif metafunc.definition.get_closest_marker(BOTH_STORES):
        stores = list(PROFILES)
    else:
        stores = [DEFAULT_STORE]
    metafunc.parametrize("store", stores, indirect=True, scope="session")


@pytest.fixture(scope="session")
def store(request: pytest.FixtureRequest) -> str:
    """The store this test runs on."""
    return str(request.param)


@pytest.fixture(scope="session")
def store_services(store: str) -> dict[str, str]:
    """Redis, ``store`` and Centrifugo on that store's profile, started by the services script (or reused);
    their ``CALLERCARD_*`` settings."""
    if store == FERRETDB2 and store != DEFAULT_STORE and not os.environ.get("CALLERCARD_FERRETDB2_DIR"):
        pytest.skip(NO_FERRETDB2)
    return services_up(PROFILES[store], store=store)


def create_product_indexes(client: MongoClient, database: str) -> None:
    """The indexes the API creates at start (``callercard.mongo.INDEXES``), for a database a test just emptied:
    the product's queries then meet the store as they do in production."""
    for index in mongo.INDEXES:
        client[database][index.collection].create_indexes([index.model()])


async def analyze_ferretdb2(mongo_url: str) -> None:
    """PostgreSQL's ``ANALYZE`` on the ferretdb2 store behind ``mongo_url``: the table statistics its autovacuum
    gathers within minutes in production, now, so a query plan is checked on them too. The services script
    starts that PostgreSQL on the Mongo port - 10000 and trusts local connections (scripts/lib/ferretdb2.sh)."""
    port = int(mongo_url.rstrip("/").rsplit(":", 1)[1]) - 10000
    connection = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres")
    try:
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
