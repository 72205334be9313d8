"""Builds a process's ``CardLookup`` with the lookup sources its settings list, in their order."""

from __future__ import annotations

from callercard.lookup.accounts_source import AccountsSource
from callercard.lookup.local_cache import LocalCardCache
from callercard.lookup.number_reads import NumberReads
from callercard.lookup.services import CacheLife, CardLookup
from callercard.lookup.sources import LookupSource, TrackedSource
from callercard.mongo import Database, InQueries
from callercard.settings import Settings
from callercard.source_settings import AccountsSourceSettings, HttpSourceSettings, SqlSourceSettings
from callercard.together import Linger
from crm.http_source import HttpSource


def card_lookup(settings: Settings, *, db: Database, local: LocalCardCache | None = None,
                linger: float = 0.0) -> CardLookup:
    """For a composition root; ``CardLookup.close`` closes the sources' clients. ``linger``: how long a lookup's
    reads wait for other lookups to go with them (the listener's, during the greeting; never the PBX's own). Only
    the first round trip waits: lookups read together then reach the sources and the cache write at one moment,
    and go together there without waiting (a lookup holding one of the listener's slots three lingers long made
    16 slots a ceiling of ~50 lookups/s)."""
    in_queries = InQueries(db)  # the store is asked once whether its ``$in`` uses the index
    sources = [TrackedSource(_source(config, settings=settings, db=db, in_queries=in_queries),
                             timeout_seconds=config.timeout_ms / 1000) for config in settings.lookup_sources]
    life = CacheLife(known_seconds=settings.lookup_cache_seconds,
                     unknown_seconds=settings.lookup_cache_unknown_seconds)
    return CardLookup(db=db, sources=sources, mode=settings.lookup_sources_mode, cache_life=life, local=local,
                      reads=NumberReads(db, in_queries=in_queries, linger=Linger(linger) if linger > 0 else None))


def _source(config: AccountsSourceSettings | HttpSourceSettings | SqlSourceSettings, *, settings: Settings,
            db: Database, in_queries: InQueries) -> LookupSource:
    region, area_code = settings.default_region, settings.default_area_code
    if isinstance(config, AccountsSourceSettings):
        return AccountsSource(db=db, name=config.name, in_queries=in_queries)
    if isinstance(config, HttpSourceSettings):
        return HttpSource(config, region=region, area_code=area_code)
    # Imported only when a sql source is configured: SQLAlchemy adds about a second to every process's start.
    from crm.sql_source import SqlSource

    return SqlSource(config, region=region, area_code=area_code)
