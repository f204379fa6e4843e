"""Per-elder data keys, kept in their own table outside the event tables.

Destroying a key makes every event encrypted with it unreadable for good (crypto-shredding):
the event log stays append-only and its seal stays intact, yet the personal data is gone.
A tombstone records that a key was destroyed, so nothing is ever encrypted with a new key for
an erased elder by mistake.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime

import sqlalchemy as sa
from eventsourcing.application import LRUCache
from sqlalchemy.engine import Engine

from event_store.sql import DriverStatement, dialect_insert, upsert
from hub.errors import PersonalDataErased

CONTACT = "contact"  # identity, contact and social data: destroyed at once on erasure
CLINICAL = "clinical"  # clinical records: destroyed when their legal retention ends
DATA_CLASSES = (CONTACT, CLINICAL)

_metadata = sa.MetaData()
KEYS = sa.Table(
    "elder_key", _metadata,
    sa.Column("elder_id", sa.String(36), primary_key=True),
    sa.Column("data_class", sa.String(16), primary_key=True),
    sa.Column("key", sa.LargeBinary, nullable=False))
DESTROYED = sa.Table(
    "elder_key_destroyed", _metadata,
    sa.Column("elder_id", sa.String(36), primary_key=True),
    sa.Column("data_class", sa.String(16), primary_key=True),
    sa.Column("destroyed_at", sa.DateTime, nullable=False))


class KeyStore:
    """Creates, caches and destroys the keys of each elder's classes of data."""

    def __init__(self, engine: Engine):
        self.engine = engine
        # Bounded (a city has millions of elders); keys of elders seen lately are the ones needed.
        self._cache: LRUCache[tuple[str, str], bytes] = LRUCache(maxsize=100_000)
        self._inserts: dict[str, DriverStatement] = {}
        self._select_keys = sa.select(KEYS.c.data_class, KEYS.c.key).where(
            KEYS.c.elder_id == sa.bindparam("elder_id", type_=sa.String))

    def create_tables(self) -> None:
        _metadata.create_all(self.engine)

    def key(self, elder_id: str, data_class: str, *, create: bool) -> bytes:
        """The elder's key for a class of data; raises PersonalDataErased if it was destroyed."""
        try:
            return self._cache.get((elder_id, data_class))
        except KeyError:
            pass
        with self.engine.begin() as conn:
            found = self._create_keys(conn, elder_id) if create else {}
            if len(found) < len(DATA_CLASSES):  # some existed already, or were destroyed
                # Every class at once: an elder whose one key is needed soon needs the other.
                found = {row.data_class: bytes(row.key) for row in
                         conn.execute(self._select_keys, {"elder_id": elder_id})}
        for found_class, found_key in found.items():
            self._cache.put((elder_id, found_class), found_key)
        if data_class not in found:
            raise PersonalDataErased(f"the {data_class} data of elder {elder_id} were erased")
        return found[data_class]

    def _create_keys(self, conn: sa.Connection, elder_id: str) -> dict[str, bytes]:
        """A key for each class the elder has none of and never had destroyed, in one
        statement; the keys it created, by class (a new elder's first message needs no
        second query).

        On PostgreSQL this commit does not wait for the disk: the events sealed with these
        keys commit after it and do wait, and a commit makes all earlier WAL durable, so no
        event can outlive its key; a key lost in a crash before that was never used."""
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
        keys = {f"key_{data_class}": os.urandom(32) for data_class in DATA_CLASSES}
        created = self._insert_unless_destroyed(conn).execute(conn,
                                                              {"elder_id": elder_id, **keys})
        return {row.data_class: bytes(row.key) for row in created}

    def _insert_unless_destroyed(self, conn: sa.Connection) -> DriverStatement:
        """INSERT each class's key unless it exists or its tombstone does, returning what it
        inserted; compiled once per dialect: a new elder arrives with every first message
        about them."""
        dialect = conn.dialect.name
        if dialect not in self._inserts:
            elder_id = sa.bindparam("elder_id", type_=sa.String)
            candidates = sa.union_all(*(
                sa.select(elder_id, sa.literal(data_class, sa.String),
                          sa.bindparam(f"key_{data_class}", type_=sa.LargeBinary)).where(
                    ~sa.exists().where(DESTROYED.c.elder_id == elder_id,
                                       DESTROYED.c.data_class == data_class))
                for data_class in DATA_CLASSES))
            self._inserts[dialect] = DriverStatement.compile(
                dialect_insert(conn, KEYS).from_select(
                    ["elder_id", "data_class", "key"], candidates).on_conflict_do_nothing(
                    index_elements=["elder_id", "data_class"]).returning(KEYS.c.data_class,
                                                                         KEYS.c.key),
                conn.dialect)
        return self._inserts[dialect]

    def destroy(self, elder_id: str, data_class: str) -> None:
        """Delete the key and leave a tombstone; idempotent."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(KEYS).where(KEYS.c.elder_id == elder_id,
                                               KEYS.c.data_class == data_class))
            upsert(conn, DESTROYED, [{"elder_id": elder_id, "data_class": data_class,
                                      "destroyed_at": datetime.now(UTC).replace(tzinfo=None)}],
                   ["elder_id", "data_class"], update=False)
        with contextlib.suppress(KeyError):
            self._cache.get((elder_id, data_class), evict=True)

