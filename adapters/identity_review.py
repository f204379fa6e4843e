"""Finding look-alike elders for review (一码通用 相似 queue).

Why here, and not in the projector or the application: scoring needs `mappings.matching`
(pinyin, 繁/简, fuzzy dates), which `hub/` and `event_store/` may not import, and a proposal is
an event, which a read-model handler must not write (a rebuild would propose again). So the
finder is a follower of the read model: it scores every elder stream whose profile changed
since its last run against the streams sharing a blocking key, and proposes each look-alike
pair once (the candidate's id is derived from the pair, so re-running, or two workers, add
nothing). It runs after each projection pass and before candidates are listed.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import date
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from event_store.readmodel import ReadModel
from event_store.sql import upsert
from hub.application import HubApplication
from hub.clock import Clock
from hub.identity import RESIDENT_ID_SYSTEM
from mappings.matching import PersonRecord, blocking_keys, compare

TRACKING = "identity-candidates"


def person_record(elder_id: str, document: dict[str, Any]) -> PersonRecord:
    """What an elder stream's own profile says, as matching needs it."""
    demographics = document.get("demographics", {})
    birth = demographics.get("birth_date")
    sex = demographics.get("sex") or {}
    national = next((i["value"] for i in document.get("identifiers", [])
                     if i["system"] == RESIDENT_ID_SYSTEM), "")
    return PersonRecord(elder_id, name=demographics.get("name", ""),
                        birth_date=date.fromisoformat(birth) if birth else None,
                        sex=sex.get("code", "") if isinstance(sex, dict) else "",
                        phone=demographics.get("phone", ""),
                        address=demographics.get("address", ""), resident_id=national)


def _hashed(key: str) -> str:
    """Blocking keys hold birth dates and phones: keep only a digest of each."""
    return hashlib.sha256(key.encode()).hexdigest()[:40]


class CandidateFinder:
    """Scores changed elder streams against look-alikes and proposes candidate pairs."""

    def __init__(self, app: HubApplication, read_model: ReadModel, clock: Clock):
        self.app = app
        self.read_model = read_model
        self.clock = clock
        self._lock = threading.Lock()

    def run(self) -> int | None:
        """Score what changed since the last run; the position of the last proposal, if any."""
        rm, t = self.read_model, self.read_model.t
        last: int | None = None
        with self._lock:
            start = rm.position(TRACKING)
            with rm.engine.connect() as conn:
                changed = conn.execute(
                    sa.select(t.profile.c.elder_id, t.profile.c.document, t.profile.c.position)
                    .where(t.profile.c.position > start).order_by(t.profile.c.position)).all()
            for row in changed:
                position = self._score(row.elder_id, row.document)
                last = position if position is not None else last
            if changed:
                with rm.engine.begin() as conn:
                    upsert(conn, t.tracking, [{"projection": TRACKING,
                                               "position": changed[-1].position}],
                           ["projection"])
        return last

    def _score(self, elder_id: str, document: dict[str, Any]) -> int | None:
        rm, t = self.read_model, self.read_model.t
        record = person_record(elder_id, document)
        keys = sorted(_hashed(k) for k in blocking_keys(record))
        with rm.engine.begin() as conn:
            conn.execute(sa.delete(t.match_key).where(t.match_key.c.elder_id == elder_id))
            upsert(conn, t.match_key, [{"key": k, "elder_id": elder_id} for k in keys],
                   ["key", "elder_id"], update=False)
            others = conn.execute(
                sa.select(t.profile.c.elder_id, t.profile.c.document)
                .where(t.profile.c.elder_id.in_(
                    sa.select(t.match_key.c.elder_id).where(t.match_key.c.key.in_(keys),
                                                            t.match_key.c.elder_id != elder_id)))
                .order_by(t.profile.c.position)).all()
        last = None
        me = rm.person_of(elder_id)
        for other in others:
            if rm.person_of(other.elder_id) == me:
                continue
            match = compare(person_record(other.elder_id, other.document), record)
            if match.grade == "certainly-not" or not (match.is_candidate
                                                       or match.grade == "certain"):
                continue
            position = self.app.propose_candidate(
                existing=UUID(other.elder_id), newcomer=UUID(elder_id), score=match.score,
                grade=match.grade, reasons=match.reasons, found_at=self.clock.now())
            last = position if position is not None else last
        return last
