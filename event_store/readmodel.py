"""Read-model tables (SQLAlchemy Core) and the queries the API serves from them.

Every table is written by the projection worker in the same transaction as its tracking position,
so the read model is always exactly the fold of the log up to that position.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from event_store.persistence import sqlalchemy_url


def utc_naive(value: datetime | str | None) -> datetime | None:
    """Instants are stored as naive UTC so both backends order them the same way."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


@dataclass
class Tables:
    """One set of read-model tables; a rebuild can write a second set beside the live one."""

    metadata: sa.MetaData
    tracking: sa.Table
    profile: sa.Table
    identifier: sa.Table
    timeline: sa.Table
    inbound: sa.Table


def define_tables(prefix: str = "rm_") -> Tables:
    md = sa.MetaData()
    tracking = sa.Table(
        f"{prefix}tracking", md,
        sa.Column("projection", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False))
    profile = sa.Table(
        f"{prefix}elder_profile", md,
        sa.Column("elder_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), index=True),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False))
    identifier = sa.Table(
        f"{prefix}elder_identifier", md,
        sa.Column("system", sa.String(200), primary_key=True),
        sa.Column("value", sa.String(200), primary_key=True),
        sa.Column("elder_id", sa.String(36), nullable=False, index=True))
    timeline = sa.Table(
        f"{prefix}timeline", md,
        sa.Column("position", sa.BigInteger, primary_key=True),
        sa.Column("elder_id", sa.String(36), nullable=False),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("entry", sa.JSON, nullable=False),
        sa.Index(f"{prefix}timeline_elder_order", "elder_id", "occurred_at", "position"))
    inbound = sa.Table(
        f"{prefix}inbound", md,
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("sender", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("control_id", sa.String(200), nullable=False),
        sa.Column("message_type", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False, index=True),
        sa.Column("problems", sa.JSON, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("resends", sa.Integer, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False))
    return Tables(md, tracking, profile, identifier, timeline, inbound)


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


class ReadModel:
    """Queries over the read-model tables; never replays aggregates."""

    def __init__(self, engine: Engine, tables: Tables):
        self.engine = engine
        self.t = tables

    def create(self) -> None:
        self.t.metadata.create_all(self.engine)

    def drop(self) -> None:
        self.t.metadata.drop_all(self.engine)

    def position(self, projection: str) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(self.t.tracking.c.position).where(
                self.t.tracking.c.projection == projection)).scalar()
        return int(value or 0)

    def profile(self, elder_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            document = conn.execute(sa.select(self.t.profile.c.document).where(
                self.t.profile.c.elder_id == elder_id)).scalar()
        return document

    def all_profiles(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(self.t.profile.c.elder_id, self.t.profile.c.document))
            return {r.elder_id: r.document for r in rows}

    def find_elders(self, value: str, system: str | None = None) -> list[dict[str, Any]]:
        """Elders holding an identifier (any system when none is given)."""
        ident, prof = self.t.identifier, self.t.profile
        query = (sa.select(ident.c.elder_id, ident.c.system, ident.c.value, prof.c.name)
                 .join(prof, prof.c.elder_id == ident.c.elder_id, isouter=True)
                 .where(ident.c.value == value))
        if system:
            query = query.where(ident.c.system == system)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(ident.c.elder_id)).all()
        found: dict[str, dict[str, Any]] = {}
        for row in rows:
            item = found.setdefault(row.elder_id, {"id": row.elder_id, "name": row.name or "",
                                                   "matched": []})
            item["matched"].append({"system": row.system, "value": row.value})
        return list(found.values())

    def timeline(self, elder_id: str, *, kinds: list[str] | None = None,
                 channels: list[str] | None = None, since: datetime | None = None,
                 until: datetime | None = None, after: tuple[datetime, int] | None = None,
                 limit: int = 100, recorded_since: datetime | None = None
                 ) -> list[dict[str, Any]]:
        """Entries in the order things happened; `after` is the (occurred_at, position) cursor."""
        t = self.t.timeline
        query = sa.select(t.c.position, t.c.occurred_at, t.c.entry).where(
            t.c.elder_id == elder_id)
        if kinds:
            query = query.where(t.c.kind.in_(kinds))
        if channels:
            query = query.where(t.c.channel.in_(channels))
        if since:
            query = query.where(t.c.occurred_at >= utc_naive(since))
        if until:
            query = query.where(t.c.occurred_at <= utc_naive(until))
        if recorded_since:
            query = query.where(t.c.recorded_at >= utc_naive(recorded_since))
        if after:
            at, position = after
            query = query.where(sa.or_(t.c.occurred_at > at,
                                       sa.and_(t.c.occurred_at == at, t.c.position > position)))
        query = query.order_by(t.c.occurred_at, t.c.position).limit(limit)
        with self.engine.connect() as conn:
            return [{**row.entry, "position": row.position,
                     "cursor": f"{row.occurred_at.isoformat()}~{row.position}"}
                    for row in conn.execute(query)]

    def inbound(self, outcome: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        t = self.t.inbound
        query = sa.select(t)
        if outcome:
            query = query.where(t.c.outcome == outcome)
        query = query.order_by(t.c.position.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [{**row._mapping, "received_at": row.received_at.isoformat() + "Z"}
                    for row in conn.execute(query)]
