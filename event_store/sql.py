"""SQL helpers shared by the read model, the key store and the seal: engines and upserts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url


def sqlalchemy_url(url: str | URL) -> URL:
    """The same database for SQLAlchemy (psycopg 3 driver for PostgreSQL)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    return parsed.set(drivername="sqlite")


def create_engine(url: str) -> Engine:
    """A SQLAlchemy engine on the hub's database (the same one the event store uses)."""
    target = sqlalchemy_url(url)
    dumps = lambda obj: json.dumps(obj, ensure_ascii=False)  # noqa: E731
    if target.get_backend_name() == "sqlite":
        return sa.create_engine(target, json_serializer=dumps, connect_args={"timeout": 30})
    return sa.create_engine(target, json_serializer=dumps, pool_pre_ping=True, pool_size=5,
                            max_overflow=10)


def upsert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]], keys: list[str],
           update: bool = True) -> None:
    """Insert rows, replacing (or keeping) existing rows with the same key, on either backend."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table)
    if update:
        columns = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_=columns)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    conn.execute(stmt, rows)


def utc_naive(value: datetime | str | None) -> datetime | None:
    """Instants are stored as naive UTC so both backends order them the same way."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
