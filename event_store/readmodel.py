"""Read-model tables (SQLAlchemy Core) and the queries the API serves from them.

Every table is written by the projection worker in the same transaction as its tracking position,
so the read model is always exactly the fold of the log up to that position.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from event_store.sql import create_engine, upsert, utc_naive  # noqa: F401  (re-exported)


@dataclass
class Tables:
    """One set of read-model tables; a rebuild can write a second set beside the live one."""

    metadata: sa.MetaData
    tracking: sa.Table
    profile: sa.Table
    identifier: sa.Table
    timeline: sa.Table
    inbound: sa.Table
    organisation: sa.Table
    relationship: sa.Table
    audit: sa.Table


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
    organisation = sa.Table(
        f"{prefix}organisation", md,
        sa.Column("organisation_id", sa.String(36), primary_key=True),
        sa.Column("code", sa.String(100), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("sending_facilities", sa.JSON, nullable=False))
    relationship = sa.Table(
        f"{prefix}care_relationship", md,
        sa.Column("elder_id", sa.String(36), primary_key=True),
        sa.Column("organisation", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("valid_from", sa.Date),
        sa.Column("valid_to", sa.Date),
        sa.Index(f"{prefix}care_relationship_org", "organisation", "kind"))
    audit = sa.Table(
        f"{prefix}audit", md,
        sa.Column("position", sa.BigInteger, primary_key=True),
        sa.Column("read_at", sa.DateTime, nullable=False, index=True),
        sa.Column("organisation", sa.String(200), nullable=False, index=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("elder_id", sa.String(36), nullable=False, index=True),
        sa.Column("what", sa.String(300), nullable=False),
        sa.Column("purpose", sa.String(500), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False))
    return Tables(md, tracking, profile, identifier, timeline, inbound, organisation,
                  relationship, audit)


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

    def inbound_counts(self) -> dict[tuple[str, str], int]:
        """Received messages by (channel, outcome)."""
        t = self.t.inbound
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.channel, t.c.outcome, sa.func.count())
                                .group_by(t.c.channel, t.c.outcome)).all()
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def find_by_name(self, name: str, limit: int = 50) -> list[dict[str, Any]]:
        """Elders whose current name contains the text (for people searching a page)."""
        t = self.t.profile
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.elder_id, t.c.name)
                                .where(t.c.name.contains(name, autoescape=True))
                                .order_by(t.c.name).limit(limit)).all()
        return [{"id": r.elder_id, "name": r.name, "matched": []} for r in rows]

    def timeline(self, elder_id: str, *, kinds: list[str] | None = None,
                 channels: list[str] | None = None, since: datetime | None = None,
                 until: datetime | None = None, after: tuple[datetime, int] | None = None,
                 limit: int = 100, source_kinds: list[str] | None = None,
                 recorded_since: datetime | None = None
                 ) -> list[dict[str, Any]]:
        """Entries in the order things happened; `after` is the (occurred_at, position) cursor."""
        t = self.t.timeline
        query = sa.select(t.c.position, t.c.occurred_at, t.c.entry).where(
            t.c.elder_id == elder_id)
        if kinds:
            query = query.where(t.c.kind.in_(kinds))
        if channels:
            query = query.where(t.c.channel.in_(channels))
        if source_kinds:
            query = query.where(_source_kind_filter(t, source_kinds))
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

    def organisation_by_key_hash(self, key_hash: str) -> dict[str, Any] | None:
        t = self.t.organisation
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.key_hash == key_hash)).first()
        return dict(row._mapping) if row else None

    def organisations(self) -> list[dict[str, Any]]:
        t = self.t.organisation
        with self.engine.connect() as conn:
            return [{k: v for k, v in row._mapping.items()
                     if k not in ("key_hash", "organisation_id")}
                    for row in conn.execute(sa.select(t).order_by(t.c.code))]

    def sending_facilities(self) -> set[str]:
        """Every HL7 sending facility (MSH-4) some care provider is registered to send as."""
        t = self.t.organisation
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.code, t.c.sending_facilities).where(
                t.c.role.in_(("hospital", "care_home", "family_doctor")))).all()
        return {f for row in rows for f in (row.sending_facilities or [])}

    def relationships(self, elder_id: str) -> list[dict[str, Any]]:
        t = self.t.relationship
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                sa.select(t).where(t.c.elder_id == elder_id))]

    def elders_of(self, organisation: str, kinds: list[str]) -> list[dict[str, Any]]:
        """Elders with one of these relationships to an organisation (a care home's residents)."""
        r, prof = self.t.relationship, self.t.profile
        query = (sa.select(r.c.elder_id, r.c.kind, prof.c.name)
                 .join(prof, prof.c.elder_id == r.c.elder_id, isouter=True)
                 .where(r.c.organisation == organisation, r.c.kind.in_(kinds))
                 .order_by(prof.c.name, r.c.elder_id))
        found: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                item = found.setdefault(row.elder_id, {"id": row.elder_id,
                                                       "name": row.name or "", "kinds": []})
                item["kinds"].append(row.kind)
        return list(found.values())

    def contracts_ending(self, organisation: str | None, start: date, end: date
                         ) -> list[dict[str, Any]]:
        """Family-doctor contracts whose period ends between two days, soonest first."""
        r, prof = self.t.relationship, self.t.profile
        query = (sa.select(r.c.elder_id, r.c.organisation, r.c.valid_from, r.c.valid_to,
                           prof.c.name)
                 .join(prof, prof.c.elder_id == r.c.elder_id, isouter=True)
                 .where(r.c.kind == "contract", r.c.valid_to >= start, r.c.valid_to <= end)
                 .order_by(r.c.valid_to, prof.c.name))
        if organisation:
            query = query.where(r.c.organisation == organisation)
        with self.engine.connect() as conn:
            return [{**row._mapping, "name": row.name or ""} for row in conn.execute(query)]

    def audit(self, *, organisation: str | None = None, elder_id: str | None = None,
              since: datetime | None = None, until: datetime | None = None,
              limit: int = 200) -> list[dict[str, Any]]:
        t = self.t.audit
        query = sa.select(t)
        if organisation:
            query = query.where(t.c.organisation == organisation)
        if elder_id:
            query = query.where(t.c.elder_id == elder_id)
        if since:
            query = query.where(t.c.read_at >= utc_naive(since))
        if until:
            query = query.where(t.c.read_at <= utc_naive(until))
        with self.engine.connect() as conn:
            return [{**r._mapping, "read_at": r.read_at.isoformat() + "Z"}
                    for r in conn.execute(query.order_by(t.c.position.desc()).limit(limit))]

    def inbound(self, outcome: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        t = self.t.inbound
        query = sa.select(t)
        if outcome:
            query = query.where(t.c.outcome == outcome)
        query = query.order_by(t.c.position.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [{**row._mapping, "received_at": row.received_at.isoformat() + "Z"}
                    for row in conn.execute(query)]


def _source_kind_filter(t: sa.Table, kinds: list[str]) -> Any:
    """Channels `family_doctor:…` and `care_home:…` name their kind; all others are hospitals'."""
    named = ("family_doctor", "care_home")
    conditions = [t.c.channel.like(f"{kind}:%") for kind in kinds if kind in named]
    if "hospital" in kinds:
        conditions.append(sa.and_(*(sa.not_(t.c.channel.like(f"{k}:%")) for k in named)))
    return sa.or_(*conditions) if conditions else sa.false()
