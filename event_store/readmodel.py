"""Read-model tables (SQLAlchemy Core) and the queries the API serves from them.

Every table is written by the projection worker in the same transaction as its tracking position,
so the read model is always exactly the fold of the log up to that position.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from event_store.sql import utc_naive
from hub.projections import profile as profile_fold


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
    merge: sa.Table
    match_key: sa.Table
    candidate: sa.Table
    profile_checkpoint: sa.Table


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
        # the fact's place among the facts of its event (one event holds a message's facts)
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("elder_id", sa.String(36), nullable=False),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("entry", sa.JSON, nullable=False),
        sa.Index(f"{prefix}timeline_elder_order", "elder_id", "occurred_at", "position", "seq"))
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
    # One row per merged elder stream: the elder it was merged into (the person is the end of
    # the chain). An unmerge deletes the row; the streams' own rows are never rewritten.
    merge = sa.Table(
        f"{prefix}elder_merge", md,
        sa.Column("elder_id", sa.String(36), primary_key=True),
        sa.Column("into_id", sa.String(36), nullable=False, index=True),
        sa.Column("position", sa.BigInteger, nullable=False))
    # Blocking keys of each elder stream (written by the candidate finder, which derives them
    # from the profiles; a rebuild derives them again).
    match_key = sa.Table(
        f"{prefix}match_key", md,
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("elder_id", sa.String(36), primary_key=True),
        sa.Index(f"{prefix}match_key_elder", "elder_id"))
    candidate = sa.Table(
        f"{prefix}identity_candidate", md,
        sa.Column("candidate_id", sa.String(36), primary_key=True),
        sa.Column("existing", sa.String(36), nullable=False),
        sa.Column("newcomer", sa.String(36), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("grade", sa.String(20), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("found_at", sa.DateTime, nullable=False),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decision_reason", sa.String(1000)),
        sa.Column("decided_at", sa.DateTime),
        sa.Column("position", sa.BigInteger, nullable=False))
    # Every so many events of an elder's stream, that stream's own profile (its fold, never a
    # merged person's) after the event at `version`, recorded at that event's timestamp: an
    # as-of read starts from the latest one recorded by then instead of from nothing.
    profile_checkpoint = sa.Table(
        f"{prefix}profile_checkpoint", md,
        sa.Column("elder_id", sa.String(36), primary_key=True),
        sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Index(f"{prefix}profile_checkpoint_when", "elder_id", "recorded_at"))
    return Tables(md, tracking, profile, identifier, timeline, inbound, organisation,
                  relationship, audit, merge, match_key, candidate, profile_checkpoint)


# How long a key once found stays known without asking the database again. Every request
# carries its key, and a hospital posts many times a second; a key issued anew (`yyhub orgs
# add` for an existing organisation) stops the old one within this many seconds.
KNOWN_KEY_SECONDS = 5.0


class ReadModel:
    """Queries over the read-model tables; never replays aggregates."""

    def __init__(self, engine: Engine, tables: Tables):
        self.engine = engine
        self.t = tables
        self._known_keys: dict[str, tuple[float, dict[str, Any]]] = {}
        self._organisation_by_key = sa.select(tables.organisation).where(
            tables.organisation.c.key_hash == sa.bindparam("key_hash", type_=sa.String))

    def create(self) -> None:
        self.t.metadata.create_all(self.engine)

    def drop(self) -> None:
        self.t.metadata.drop_all(self.engine)

    def position(self, projection: str) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(self.t.tracking.c.position).where(
                self.t.tracking.c.projection == projection)).scalar()
        return int(value or 0)

    def person_of(self, elder_id: str, conn: sa.Connection | None = None) -> str:
        """The surviving elder of the person this elder's stream belongs to."""
        t = self.t.merge
        with _connection(self.engine, conn) as c:
            seen = {elder_id}
            while (into := c.execute(sa.select(t.c.into_id).where(
                    t.c.elder_id == elder_id)).scalar()) is not None and into not in seen:
                seen.add(into)
                elder_id = into
        return elder_id

    def members(self, elder_id: str, conn: sa.Connection | None = None) -> list[str]:
        """Every elder stream of this elder's person, the survivor first."""
        t = self.t.merge
        with _connection(self.engine, conn) as c:
            if c.execute(sa.select(t.c.elder_id).where(
                    sa.or_(t.c.elder_id == elder_id, t.c.into_id == elder_id)).limit(1)
                    ).first() is None:
                return [elder_id]  # never merged (almost every elder): one query
            person = self.person_of(elder_id, c)
            found, frontier = [person], [person]
            while frontier:
                below = [r.elder_id for r in c.execute(
                    sa.select(t.c.elder_id).where(t.c.into_id.in_(frontier))
                    .order_by(t.c.position))]
                below = [e for e in below if e not in found]
                found.extend(below)
                frontier = below
        return found

    def profile(self, elder_id: str) -> dict[str, Any] | None:
        """The person's profile: a merged person's is composed from their streams' profiles."""
        p = self.t.profile
        with self.engine.connect() as conn:
            members = self.members(elder_id, conn)
            documents = {r.elder_id: r.document for r in conn.execute(
                sa.select(p.c.elder_id, p.c.document).where(p.c.elder_id.in_(members)))}
        if len(members) == 1:
            return documents.get(elder_id)
        held = [documents[m] for m in members if m in documents]
        return profile_fold.combine(members[0], held) if held else None

    def profile_checkpoint(self, elder_id: str, as_of: datetime
                           ) -> tuple[int, dict[str, Any]] | None:
        """(version, document) of the latest checkpoint of this elder's own stream recorded
        at or before the instant, or None."""
        t = self.t.profile_checkpoint
        query = (sa.select(t.c.version, t.c.document)
                 .where(t.c.elder_id == elder_id, t.c.recorded_at <= utc_naive(as_of))
                 .order_by(t.c.recorded_at.desc(), t.c.version.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return (int(row.version), row.document) if row else None

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
            person = self.person_of(row.elder_id)
            item = found.setdefault(person, {"id": person, "name": row.name or "",
                                             "matched": []})
            if person != row.elder_id:
                item["name"] = self._name(person) or item["name"]
            item["matched"].append({"system": row.system, "value": row.value})
        return list(found.values())

    def _name(self, person: str) -> str:
        document = self.profile(person) or {}
        return str(document.get("demographics", {}).get("name", ""))

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
        people = dict.fromkeys(self.person_of(r.elder_id) for r in rows)
        return [{"id": p, "name": self._name(p), "matched": []} for p in people]

    def timeline(self, elder_id: str, *, kinds: list[str] | None = None,
                 channels: list[str] | None = None, since: datetime | None = None,
                 until: datetime | None = None,
                 after: tuple[datetime, int, int] | None = None,
                 limit: int = 100, source_kinds: list[str] | None = None,
                 recorded_since: datetime | None = None
                 ) -> list[dict[str, Any]]:
        """Entries in the order things happened; `after` is the (occurred_at, position, seq)
        cursor."""
        t = self.t.timeline
        query = sa.select(t.c.position, t.c.seq, t.c.occurred_at, t.c.entry).where(
            t.c.elder_id.in_(self.members(elder_id)))
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
            at, position, seq = after
            query = query.where(sa.or_(
                t.c.occurred_at > at,
                sa.and_(t.c.occurred_at == at, t.c.position > position),
                sa.and_(t.c.occurred_at == at, t.c.position == position, t.c.seq > seq)))
        query = query.order_by(t.c.occurred_at, t.c.position, t.c.seq).limit(limit)
        with self.engine.connect() as conn:
            return [{**row.entry, "position": row.position,
                     "cursor": timeline_cursor(row.occurred_at, row.position, row.seq)}
                    for row in conn.execute(query)]

    def known_organisation(self, key_hash: str) -> dict[str, Any] | None:
        """The organisation holding a key found in the last `KNOWN_KEY_SECONDS`, from memory
        (no database call, so it may be asked from the event loop); None if not known."""
        known = self._known_keys.get(key_hash)
        if known is not None and time.monotonic() - known[0] < KNOWN_KEY_SECONDS:
            return dict(known[1])
        return None

    def organisation_by_key_hash(self, key_hash: str) -> dict[str, Any] | None:
        """The organisation holding a key (by its hash); a key found in the last
        `KNOWN_KEY_SECONDS` is answered from memory. An unknown key is always looked up."""
        known = self.known_organisation(key_hash)
        if known is not None:
            return known
        now = time.monotonic()
        with self.engine.connect() as conn:
            row = conn.execute(self._organisation_by_key, {"key_hash": key_hash}).first()
        if row is None:
            self._known_keys.pop(key_hash, None)
            return None
        if len(self._known_keys) >= 1024:  # a few keys are in use at a time; never grow
            self._known_keys.clear()
        organisation = dict(row._mapping)
        self._known_keys[key_hash] = (now, organisation)
        return dict(organisation)

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
            # Access follows a merge: a relationship with any of the person's streams counts.
            return [dict(r._mapping) for r in conn.execute(
                sa.select(t).where(t.c.elder_id.in_(self.members(elder_id, conn))))]

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

    def candidates(self, status: str | None = "open", limit: int = 200
                   ) -> list[dict[str, Any]]:
        """Look-alike pairs for review, highest score first."""
        t = self.t.candidate
        query = sa.select(t)
        if status:
            query = query.where(t.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.c.score.desc(), t.c.position).limit(limit))
            return [{**r._mapping, "found_at": r.found_at.isoformat() + "Z",
                     "decided_at": r.decided_at.isoformat() + "Z" if r.decided_at else None}
                    for r in rows]

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


@contextlib.contextmanager
def _connection(engine: Engine, conn: sa.Connection | None) -> Iterator[sa.Connection]:
    """The caller's connection when it has one (one snapshot for a composed read)."""
    if conn is not None:
        yield conn
        return
    with engine.connect() as own:
        yield own


def timeline_cursor(occurred_at: datetime, position: int, seq: int) -> str:
    """Where a page of a timeline ended, as the API hands it out."""
    return f"{occurred_at.isoformat()}~{position}.{seq}"


def read_timeline_cursor(cursor: str) -> tuple[datetime, int, int]:
    """The (occurred_at, position, seq) a cursor names; ValueError if it is not one of ours."""
    at, place = cursor.rsplit("~", 1)
    position, _, seq = place.partition(".")
    return datetime.fromisoformat(at), int(position), int(seq or 0)
