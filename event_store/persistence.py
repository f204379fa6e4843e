"""The event store, built from one database URL: a SQLite file by default, or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import JSONTranscoder, Mapper
from sqlalchemy.engine import URL, make_url

from event_store.keys import KeyStore
from event_store.mapper import PersonalDataMapper
from event_store.pg_recorder import TOPIC as BINARY_ARRAY_RECORDER
from event_store.sql import sqlalchemy_url
from event_store.transcodings import register_all
from hub.application import HubApplication
from hub.elder import Elder

TRANSCODER = "event_store.transcodings:HubTranscoder"
COMPRESSOR = "event_store.compression:LargeStatesDeflated"


class StoredHub(HubApplication):
    """The hub application with the hub's transcodings and elder snapshots."""

    name = "YiyangHub"  # names the PostgreSQL tables: yiyanghub_events, yiyanghub_snapshots

    def __init__(self, env: dict[str, str], key_store: KeyStore):
        self.key_store = key_store
        super().__init__(env=env)

    def construct_mapper(self) -> Mapper[UUID]:
        mapper = self.factory.mapper(transcoder=self.construct_transcoder(),
                                     mapper_class=PersonalDataMapper)
        assert isinstance(mapper, PersonalDataMapper)
        mapper.key_store = self.key_store
        return mapper
    snapshotting_intervals = {Elder: 200}  # noqa: RUF012

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_all(transcoder)

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Snapshot from the aggregate in hand, not by reading its events back from the store.

        The library re-reads the stream up to the interval's version; after one save of a few
        hundred facts (a FHIR transaction) that read-back cost more than the save. A snapshot at
        the aggregate's current version serves every later `get` just as well.
        """
        assert self.snapshots is not None
        due: set[UUID] = set()
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval is not None and event.originator_version % interval == 0:
                due.add(event.originator_id)
        snapshots = [Snapshot.take(processing_event.aggregates[i]) for i in due]
        if snapshots:
            self.snapshots.put(snapshots)


def is_postgres(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def eventsourcing_env(url: str | URL) -> dict[str, str]:
    """eventsourcing's settings for the database a URL names."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if not path or path == ":memory:":
            raise ValueError("the hub needs a SQLite file, not an in-memory database")
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path,
                "SQLITE_LOCK_TIMEOUT": "30", "TRANSCODER_TOPIC": TRANSCODER,
                "COMPRESSOR_TOPIC": COMPRESSOR}
    if parsed.get_backend_name() == "postgresql":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parsed.database or "yyhub",
            "POSTGRES_HOST": parsed.host or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": parsed.username or "postgres",
            "POSTGRES_PASSWORD": parsed.password or "",
            "POSTGRES_POOL_SIZE": "5",
            "POSTGRES_MAX_OVERFLOW": "10",
            # The longest wait for a pooled connection. eventsourcing retries each call ten
            # times, so when the database is down a call gives up after ~12 s (not ~100 s):
            # callers get their 503 or MLLP sees no ACK while they are still listening.
            "POSTGRES_CONNECT_TIMEOUT": "1",
            "POSTGRES_LOCK_TIMEOUT": "30",
            # After a database restart every pooled connection is dead: check before use.
            "POSTGRES_PRE_PING": "y",
            "APPLICATION_RECORDER_TOPIC": BINARY_ARRAY_RECORDER,
            "TRANSCODER_TOPIC": TRANSCODER,
            "COMPRESSOR_TOPIC": COMPRESSOR,
        }
    raise ValueError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")


def prepare_database(url: str | URL) -> None:
    """Create the SQLite folder or the PostgreSQL database if it does not exist yet."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        Path(parsed.database or "").expanduser().resolve().parent.mkdir(parents=True,
                                                                         exist_ok=True)
        return
    admin = sqlalchemy_url(parsed).set(database="postgres")
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": parsed.database}).scalar()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        engine.dispose()


def open_store(url: str | URL, key_store: KeyStore, **extra_env: Any) -> StoredHub:
    """The hub application on the database the URL names (created if missing)."""
    prepare_database(url)
    env = eventsourcing_env(url)
    env.update({k: str(v) for k, v in extra_env.items()})
    return StoredHub(env=env, key_store=key_store)
