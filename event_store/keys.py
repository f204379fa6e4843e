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

from event_store.sql import upsert
from hub.errors import PersonalDataErased

CONTACT = "contact"  # identity, contact and social data: destroyed at once on erasure
CLINICAL = "clinical"  # clinical records: destroyed when their legal retention ends

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

    def create_tables(self) -> None:
        _metadata.create_all(self.engine)

    def key(self, elder_id: str, data_class: str, *, create: bool) -> bytes:
        """The elder's key for a class of data; raises PersonalDataErased if it was destroyed."""
        try:
            return self._cache.get((elder_id, data_class))
        except KeyError:
            pass
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(KEYS.c.key).where(
                KEYS.c.elder_id == elder_id, KEYS.c.data_class == data_class)).scalar()
            if row is None:
                if self._destroyed(conn, elder_id, data_class) or not create:
                    raise PersonalDataErased(f"the {data_class} data of elder {elder_id} "
                                             "were erased")
                upsert(conn, KEYS, [{"elder_id": elder_id, "data_class": data_class,
                                     "key": os.urandom(32)}], ["elder_id", "data_class"],
                       update=False)
                row = conn.execute(sa.select(KEYS.c.key).where(
                    KEYS.c.elder_id == elder_id, KEYS.c.data_class == data_class)).scalar_one()
        self._cache.put((elder_id, data_class), bytes(row))
        return bytes(row)

    @staticmethod
    def _destroyed(conn: sa.Connection, elder_id: str, data_class: str) -> bool:
        return conn.execute(sa.select(DESTROYED.c.elder_id).where(
            DESTROYED.c.elder_id == elder_id, DESTROYED.c.data_class == data_class)
        ).first() is not None

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
