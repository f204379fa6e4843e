"""A hash chain over the event log, so any change to a stored event can be found later.

Each seal row covers one stored event: `event_hash` is the SHA-256 of the event as stored
(originator, version, topic and state bytes); `chain` is the SHA-256 of the previous seal's chain
and this row. `verify` recomputes both from the log and names the first position that was
altered, inserted or deleted. Publish the chain head (`yyhub verify` prints it) somewhere the
database's administrators cannot write, so a rewrite of the seal table itself is found too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from event_store.retry import transient_retry

GENESIS = "0" * 64
PAGE = 2000


def define_seal_table(metadata: sa.MetaData | None = None) -> sa.Table:
    return sa.Table(
        "seal_chain", metadata or sa.MetaData(),
        sa.Column("position", sa.BigInteger, primary_key=True),
        sa.Column("event_hash", sa.String(64), nullable=False),
        sa.Column("chain", sa.String(64), nullable=False))


def event_hash(notification: Any) -> str:
    digest = hashlib.sha256()
    for part in (str(notification.originator_id), str(notification.originator_version),
                 notification.topic):
        digest.update(part.encode())
        digest.update(b"\x00")
    digest.update(bytes(notification.state))
    return digest.hexdigest()


def chain_hash(previous: str, position: int, hashed: str) -> str:
    return hashlib.sha256(f"{previous}|{position}|{hashed}".encode()).hexdigest()


@dataclass(frozen=True)
class Verification:
    """What `verify` found: intact, or the first bad position and what is wrong there."""

    intact: bool
    sealed: int
    unsealed: int
    head: str
    position: int | None = None
    problem: str = ""

    def describe(self) -> str:
        if self.intact:
            return (f"intact: {self.sealed} sealed events, chain head {self.head}"
                    + (f"; {self.unsealed} newer events not sealed yet" if self.unsealed else ""))
        return f"NOT INTACT at position {self.position}: {self.problem}"


class Sealer:
    """Extends the chain over new events, and verifies the whole chain against the log."""

    def __init__(self, engine: Engine, recorder: Any):
        self.engine = engine
        self.recorder = recorder
        self.table = define_seal_table()

    def create(self) -> None:
        self.table.metadata.create_all(self.engine)

    def _notifications(self, after: int, stop: int | None = None) -> Iterator[Any]:
        while True:
            page = self.recorder.select_notifications(start=after, limit=PAGE, stop=stop,
                                                      inclusive_of_start=False)
            yield from page
            if len(page) < PAGE:
                return
            after = page[-1].id

    @transient_retry()
    def seal_new(self) -> int:
        """Seal every event recorded since the last seal; returns how many were sealed."""
        t = self.table
        with self.engine.begin() as conn:
            last = conn.execute(sa.select(t.c.position, t.c.chain)
                                .order_by(t.c.position.desc()).limit(1)).first()
            position, previous = (last.position, last.chain) if last else (0, GENESIS)
            rows: list[dict[str, Any]] = []
            sealed = 0
            for notification in self._notifications(position):
                hashed = event_hash(notification)
                previous = chain_hash(previous, notification.id, hashed)
                rows.append({"position": notification.id, "event_hash": hashed,
                             "chain": previous})
                if len(rows) >= PAGE:
                    conn.execute(sa.insert(t), rows)
                    sealed, rows = sealed + len(rows), []
            if rows:
                conn.execute(sa.insert(t), rows)
        return sealed + len(rows)

    def verify(self) -> Verification:
        """Recompute the chain from the log; name the first altered, inserted or missing event."""
        t = self.table
        with self.engine.connect() as conn:
            seals = conn.execute(sa.select(t.c.position, t.c.event_hash, t.c.chain)
                                 .order_by(t.c.position)).all()
        last_sealed = seals[-1].position if seals else 0
        events = self._notifications(0, stop=last_sealed or None) if seals else iter(())
        previous, sealed_count = GENESIS, 0
        event = next(events, None)
        for seal in seals:
            if event is not None and event.id < seal.position:
                return Verification(False, sealed_count, 0, previous, event.id,
                                    "an event was inserted that was never sealed")
            if event is None or event.id > seal.position:
                return Verification(False, sealed_count, 0, previous, seal.position,
                                    "a sealed event is missing (deleted)")
            hashed = event_hash(event)
            if hashed != seal.event_hash:
                return Verification(False, sealed_count, 0, previous, seal.position,
                                    "the stored event was altered after it was sealed")
            previous = chain_hash(previous, seal.position, hashed)
            if previous != seal.chain:
                return Verification(False, sealed_count, 0, previous, seal.position,
                                    "the seal chain was rewritten")
            sealed_count += 1
            event = next(events, None)
        if event is not None:
            return Verification(False, sealed_count, 0, previous, event.id,
                                "an event was inserted that was never sealed")
        newest = self.recorder.max_notification_id() or 0
        unsealed = sum(1 for _ in self._notifications(last_sealed)) if newest > last_sealed else 0
        return Verification(True, sealed_count, unsealed, previous)
