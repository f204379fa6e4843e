"""The projection worker: folds new events from the notification log into the read model.

It reads the log in batches and commits each batch's read-model rows together with the new
tracking position in one transaction, so a worker killed at any moment resumes exactly where the
last commit left it: nothing skipped, nothing applied twice. It works the same on SQLite and
PostgreSQL (it polls; eventsourcing's push subscriptions exist only on PostgreSQL).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections import OrderedDict, defaultdict
from datetime import timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from event_store.readmodel import ReadModel, Tables
from event_store.retry import transient_retry
from event_store.sql import pipelined, upsert, utc_naive
from hub.application import HubApplication
from hub.audit import PersonalDataRead
from hub.elder import Elder, recorded_facts
from hub.erasure import Erasure
from hub.facts import CareStay, ContractStatus
from hub.identity_review import MatchCandidate
from hub.inbound import InboundMessage
from hub.organisations import Organisation
from hub.projections import profile, timeline
from hub.values import plain

log = logging.getLogger("yyhub.projector")

PROJECTION = "elders"

# Every this many events of an elder's stream (by originator_version), the projection keeps a
# checkpoint of that stream's profile for as-of reads (event_store/as_of.py).
CHECKPOINT_EVERY = 500


class Handler(Protocol):
    """Writes one part of the read model from a batch of (position, event) pairs."""

    def handle(self, conn: Connection, tables: Tables, batch: list[tuple[int, Any]]) -> None: ...


class ElderHandler:
    """Profiles, identifiers and timelines of elders, and checkpoints of their profiles."""

    def __init__(self, checkpoint_every: int = CHECKPOINT_EVERY, remembered: int = 2000):
        self.checkpoint_every = checkpoint_every
        self.written = WrittenProfiles(remembered)

    def handle(self, conn: Connection, tables: Tables, batch: list[tuple[int, Any]]) -> None:
        by_elder: dict[str, list[tuple[int, Any]]] = defaultdict(list)
        for position, event in batch:
            if isinstance(event, Elder.Event):
                by_elder[str(event.originator_id)].append((position, event))
        if not by_elder:
            return
        t = tables.profile
        held = self.written.held(conn, t, list(by_elder))
        profiles, identifiers, entries, checkpoints = [], [], [], []
        naive: dict[str, Any] = {}  # a message's facts mostly share their instant
        involved: set[tuple[str, str]] = set()
        cared: dict[tuple[str, str, str], dict[str, Any]] = {}
        for elder_id, events in by_elder.items():
            state = held.get(elder_id) or profile.initial(elder_id)
            for position, event in events:
                state = profile.apply(state, event)
                if event.originator_version % self.checkpoint_every == 0:
                    # `apply` returns a new profile and never changes one it was given, so this
                    # is the stream's state after exactly this event.
                    checkpoints.append({"elder_id": elder_id,
                                        "version": event.originator_version,
                                        "recorded_at": utc_naive(event.timestamp),
                                        "document": state})
                facts = timeline.entries_for(event)
                if facts:
                    recorded_at = utc_naive(event.timestamp)
                    organisation, channel = event.source.organisation, event.source.channel
                for entry in facts:
                    occurred_at = naive.get(entry["occurred_at"])
                    if occurred_at is None:
                        occurred_at = naive[entry["occurred_at"]] = utc_naive(
                            entry["occurred_at"])
                    entries.append({
                        "position": position, "seq": entry["seq"], "elder_id": elder_id,
                        "occurred_at": occurred_at, "recorded_at": recorded_at,
                        "kind": entry["kind"], "organisation": organisation,
                        "channel": channel, "entry": entry})
                source = getattr(event, "source", None)
                if source is not None and not isinstance(event, profile.MERGE_EVENTS):
                    involved.add((elder_id, source.organisation))
                for relationship in care_relationships(elder_id, event):
                    cared[(elder_id, relationship["organisation"], relationship["kind"])] = \
                        relationship
                if isinstance(event, Elder.IdentifierLinked) and event.identifier.linkable:
                    identifiers.append({"system": event.identifier.system,
                                        "value": event.identifier.value, "elder_id": elder_id})
            profiles.append({"elder_id": elder_id, "document": state,
                             "name": state["demographics"].get("name", ""),
                             "position": events[-1][0]})
        with pipelined(conn):
            upsert(conn, t, profiles, ["elder_id"])
            upsert(conn, tables.profile_checkpoint, checkpoints, ["elder_id", "version"])
            upsert(conn, tables.identifier, identifiers, ["system", "value"])
            upsert(conn, tables.timeline, entries, ["position", "seq"], update=False)
            upsert(conn, tables.relationship,
                   [{"elder_id": e, "organisation": o, "kind": "records", "valid_from": None,
                     "valid_to": None} for e, o in sorted(involved)],
                   ["elder_id", "organisation", "kind"], update=False)
            upsert(conn, tables.relationship, list(cared.values()),
                   ["elder_id", "organisation", "kind"])
        self.written.remember(t, profiles)


class WrittenProfiles:
    """The profiles this worker last wrote, so a batch need not read them back.

    A remembered profile is used only while the row still holds the position it was written
    at: the fold is deterministic, so the row then holds this very document. A batch that
    was rolled back, another worker's batch, an erasure or a rebuild all leave the row at
    another position (or remove it), and the document is read from the row again."""

    def __init__(self, size: int):
        self.size = size
        self.documents: OrderedDict[tuple[str, str], tuple[int, dict[str, Any]]] = OrderedDict()

    def held(self, conn: Connection, t: sa.Table, elder_ids: list[str]) -> dict[str, Any]:
        """The stored profile of each of these elders that has one."""
        if not self.size:
            return {row.elder_id: row.document for row in conn.execute(
                sa.select(t.c.elder_id, t.c.document).where(t.c.elder_id.in_(elder_ids)))}
        found, missing = {}, []
        for row in conn.execute(sa.select(t.c.elder_id, t.c.position)
                                .where(t.c.elder_id.in_(elder_ids))):
            mine = self.documents.get((t.name, row.elder_id))
            if mine is not None and mine[0] == row.position:
                found[row.elder_id] = mine[1]
            else:
                missing.append(row.elder_id)
        if missing:
            found.update((row.elder_id, row.document) for row in conn.execute(
                sa.select(t.c.elder_id, t.c.document).where(t.c.elder_id.in_(missing))))
        return found

    def remember(self, t: sa.Table, profiles: list[dict[str, Any]]) -> None:
        if not self.size:
            return
        for row in profiles:
            key = (t.name, row["elder_id"])
            self.documents[key] = (row["position"], row["document"])
            self.documents.move_to_end(key)
        while len(self.documents) > self.size:
            self.documents.popitem(last=False)


def care_relationships(elder_id: str, event: Any) -> list[dict[str, Any]]:
    """A contract makes a family-doctor team responsible for its period (through its last day;
    a termination ends it the day it is recorded); a stay makes a care home responsible."""
    found = []
    for dated in recorded_facts(event):
        fact = dated.fact
        if isinstance(fact, ContractStatus):
            ends = fact.period_end
            if fact.status == "terminated":
                ends = dated.occurred_at.date() - timedelta(days=1)
            found.append({"elder_id": elder_id, "organisation": event.source.organisation,
                          "kind": "contract", "valid_from": fact.period_start,
                          "valid_to": ends})
        if isinstance(fact, CareStay):
            found.append({"elder_id": elder_id, "organisation": event.source.organisation,
                          "kind": "resident", "valid_from": dated.occurred_at.date(),
                          "valid_to": None})
    return found


class MergeHandler:
    """Which elder stream was merged into which: the read side composes the person from it."""

    def handle(self, conn: Connection, tables: Tables, batch: list[tuple[int, Any]]) -> None:
        t = tables.merge
        for position, event in batch:
            if isinstance(event, Elder.MergedInto):
                upsert(conn, t, [{"elder_id": str(event.originator_id),
                                  "into_id": str(event.survivor_id), "position": position}],
                       ["elder_id"])
            elif isinstance(event, Elder.Unmerged) and not event.was_survivor:
                conn.execute(sa.delete(t).where(t.c.elder_id == str(event.originator_id)))


class CandidateHandler:
    """Look-alike pairs awaiting review, and the decisions taken on them."""

    def handle(self, conn: Connection, tables: Tables, batch: list[tuple[int, Any]]) -> None:
        t = tables.candidate
        for position, event in batch:
            key = str(event.originator_id) if isinstance(event, MatchCandidate.Event) else ""
            if isinstance(event, MatchCandidate.Proposed):
                upsert(conn, t, [{
                    "candidate_id": key, "existing": str(event.existing),
                    "newcomer": str(event.newcomer), "score": event.score,
                    "grade": event.grade, "reasons": list(event.reasons), "status": "open",
                    "found_at": utc_naive(event.found_at), "decided_by": None,
                    "decision_reason": None, "decided_at": None, "position": position}],
                    ["candidate_id"])
            elif isinstance(event, MatchCandidate.Linked | MatchCandidate.MarkedDistinct):
                conn.execute(sa.update(t).where(t.c.candidate_id == key).values(
                    status="linked" if isinstance(event, MatchCandidate.Linked)
                    else "distinct", decided_by=event.decided_by,
                    decision_reason=event.reason, decided_at=utc_naive(event.decided_at),
                    position=position))


class OrganisationHandler:
    """Organisations and the hash of their current key, for authenticating callers."""

    def handle(self, conn: Connection, tables: Tables, batch: list[tuple[int, Any]]) -> None:
        for _, event in batch:
            if isinstance(event, Organisation.Registered):
                upsert(conn, tables.organisation, [{
                    "organisation_id": str(event.originator_id), "code": event.code,
                    "name": event.name, "role": event.role,
                    "key_hash": event.key_hash,
                    "sending_facilities": list(event.sending_facilities)}], ["organisation_id"])
            elif isinstance(event, Organisation.KeyIssued):
                t = tables.organisation
                conn.execute(sa.update(t).where(t.c.organisation_id == str(event.originator_id))
                             .values(key_hash=event.key_hash))


class AuditHandler:
    """The read-audit log, for regulators."""

    def handle(self, conn: Connection, tables: Tables, batch: list[tuple[int, Any]]) -> None:
        rows = [{"position": position, "read_at": utc_naive(e.read_at),
                 "organisation": e.organisation, "role": e.role, "elder_id": e.elder_id,
                 "what": e.what, "purpose": e.purpose, "request_id": e.request_id,
                 "outcome": e.outcome}
                for position, e in batch if isinstance(e, PersonalDataRead.Recorded)]
        upsert(conn, tables.audit, rows, ["position"], update=False)


class InboundHandler:
    """The list of received messages and their outcomes (for quarantine and review)."""

    def handle(self, conn: Connection, tables: Tables, batch: list[tuple[int, Any]]) -> None:
        t = tables.inbound
        rows: dict[str, dict[str, Any]] = {}
        for position, event in batch:
            if not isinstance(event, InboundMessage.Event):
                continue
            key = str(event.originator_id)
            if isinstance(event, InboundMessage.Received):
                rows[key] = {"message_id": key, "sender": event.sender, "channel": event.channel,
                             "control_id": event.control_id, "message_type": event.message_type,
                             "outcome": "received", "problems": [],
                             "received_at": utc_naive(event.received_at), "resends": 0,
                             "position": position}
                continue
            row = rows.get(key)
            if row is None:
                found = conn.execute(sa.select(t).where(t.c.message_id == key)).first()
                if found is None:
                    continue
                row = rows[key] = dict(found._mapping)
            row["position"] = position
            if isinstance(event, InboundMessage.Accepted | InboundMessage.Rejected):
                row["outcome"] = "accepted" if isinstance(event, InboundMessage.Accepted) \
                    else "rejected"
                row["problems"] = plain(getattr(event, "warnings", None)
                                        or getattr(event, "problems", ()))
            elif isinstance(event, InboundMessage.ResendReceived):
                row["resends"] += 1
        upsert(conn, t, list(rows.values()), ["message_id"])


class ActiveWorkerLock:
    """A PostgreSQL session advisory lock that elects one active worker per projection.

    On SQLite there is one process, so the worker is always active.
    """

    def __init__(self, engine: sa.Engine, name: str):
        self.engine = engine
        self.key = int.from_bytes(hashlib.sha256(f"yyhub:{name}".encode()).digest()[:8],
                                  "big", signed=True)
        self.conn: sa.Connection | None = None
        self.active = engine.dialect.name != "postgresql"

    def __enter__(self) -> ActiveWorkerLock:
        return self

    def is_active(self) -> bool:
        if self.active:
            return True
        try:
            if self.conn is None:
                self.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self.active = bool(self.conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                                                 {"k": self.key}).scalar())
            if self.active:
                log.info("this worker is now the active %s projection worker", PROJECTION)
        except sa.exc.DBAPIError:
            log.warning("could not reach the database to elect a worker; standing by")
            self._drop()
        return self.active

    def _drop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(sa.exc.DBAPIError):
                self.conn.close()
        self.conn = None

    def __exit__(self, *exc: object) -> None:
        self._drop()  # closing the session releases the lock for a standby


class ErasureHandler:
    """A frozen elder is stored, not processed: their read-model rows are removed."""

    def handle(self, conn: Connection, tables: Tables, batch: list[tuple[int, Any]]) -> None:
        for _, event in batch:
            if isinstance(event, Erasure.Requested):
                elder_id = str(event.elder_id)
                for table in (tables.profile, tables.profile_checkpoint, tables.identifier,
                              tables.timeline, tables.match_key):
                    conn.execute(sa.delete(table).where(table.c.elder_id == elder_id))


def default_handlers() -> list[Handler]:
    """The read models every hub keeps; features add their own handlers beside these."""
    return [ElderHandler(), MergeHandler(), CandidateHandler(), InboundHandler(),
            OrganisationHandler(), AuditHandler(), ErasureHandler()]


class Projector:
    """Catches the read model up with the event log, one committed batch at a time."""

    def __init__(self, app: HubApplication, read_model: ReadModel,
                 handlers: list[Handler] | None = None, batch_size: int = 500):
        self.app = app
        self.read_model = read_model
        self.handlers = handlers if handlers is not None else default_handlers()
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        # Called after each pass of the running worker (the seal rides along with it).
        self.after_pass: Any = None

    def ensure_tracking(self) -> None:
        with self.read_model.engine.begin() as conn:
            upsert(conn, self.read_model.t.tracking, [{"projection": PROJECTION, "position": 0}],
                   ["projection"], update=False)

    def position(self) -> int:
        return self.read_model.position(PROJECTION)

    def catch_up(self, until: int | None = None) -> int:
        """Apply batches until the log is exhausted (or `until` is reached); returns events applied."""
        applied = 0
        with self._lock:
            while True:
                done, position = self._apply_batch()
                applied += done
                if done == 0 or (until is not None and position >= until):
                    return applied

    def wait_for(self, position: int) -> None:
        """Read-your-writes: return once the read model includes `position`."""
        if self.position() < position:
            self.catch_up(until=position)

    @transient_retry()
    def _apply_batch(self) -> tuple[int, int]:
        t = self.read_model.t.tracking
        with self.read_model.engine.begin() as conn:
            # Lock the tracking row first: concurrent workers take turns, never share a batch.
            conn.execute(sa.update(t).where(t.c.projection == PROJECTION)
                         .values(position=t.c.position))
            start = int(conn.execute(sa.select(t.c.position).where(
                t.c.projection == PROJECTION)).scalar_one())
            notifications = self.app.recorder.select_notifications(
                start=start, limit=self.batch_size, inclusive_of_start=False)
            if not notifications:
                return 0, start
            batch = [(n.id, event) for n in notifications
                     if (event := self.app.readable(n)) is not None]
            for handler in self.handlers:
                handler.handle(conn, self.read_model.t, batch)
            end = notifications[-1].id
            conn.execute(sa.update(t).where(t.c.projection == PROJECTION).values(position=end))
        log.debug("projected %d events up to %d", len(batch), end)
        return len(batch), end


    def nudge(self) -> None:
        """Tell a running worker loop that there is something new."""
        self._wake.set()

    def run_forever(self, idle_seconds: float = 0.5) -> None:
        """Keep the read model fresh until `stop()`; errors are logged and retried.

        On PostgreSQL the workers of all processes elect one active worker with an advisory
        lock; the others stand by and take over when its session ends (the process died).
        Correctness does not rest on the election (the tracking row is locked per batch); it
        only keeps standbys from contending.
        """
        with ActiveWorkerLock(self.read_model.engine, PROJECTION) as election:
            while not self._stop.is_set():
                try:
                    if election.is_active():
                        self.catch_up()
                        if self.after_pass is not None:
                            self.after_pass()
                except Exception:  # a worker must outlive a bad moment; the next pass retries
                    log.exception("projection pass failed; retrying")
                self._wake.wait(idle_seconds)
                self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
