"""Candidate links between elders who look alike but share no strong identifier.

A candidate is only ever a question for a person: it is proposed with its score and reasons, and
an operator links the two (a merge) or marks them distinct, each decision an event saying who
decided and why. Nothing here links records on its own.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from hub.errors import HubError

CANDIDATE_NAMESPACE = uuid5(NAMESPACE_URL, "urn:yyhub:match-candidate")
OPEN, LINKED, DISTINCT = "open", "linked", "distinct"


class CandidateDecided(HubError):
    """Raised when a candidate that was already decided is decided again."""

    code = "candidate-decided"


class MatchCandidate(Aggregate):
    """Two elder streams that may be one person. The id is derived from the pair, so a pair is
    proposed once however often (and by however many workers) it is found."""

    @staticmethod
    def create_id(existing: UUID, newcomer: UUID) -> UUID:
        return uuid5(CANDIDATE_NAMESPACE, "|".join(sorted((str(existing), str(newcomer)))))

    @event("Proposed")
    def __init__(self, existing: UUID, newcomer: UUID, score: int, grade: str,
                 reasons: tuple[str, ...], found_at: datetime):
        # Reasons name the fields that agree or differ (出生日期相同), never their values.
        self.existing = existing
        self.newcomer = newcomer
        self.status = OPEN

    def _check_open(self) -> None:
        if self.status != OPEN:
            raise CandidateDecided(f"this candidate was already decided: {self.status}")

    @event("Linked")
    def link(self, decided_by: str, reason: str, decided_at: datetime) -> None:
        self.status = LINKED

    @event("MarkedDistinct")
    def mark_distinct(self, decided_by: str, reason: str, decided_at: datetime) -> None:
        self.status = DISTINCT

    def decide(self, link: bool, decided_by: str, reason: str, decided_at: datetime) -> None:
        self._check_open()
        if link:
            self.link(decided_by=decided_by, reason=reason, decided_at=decided_at)
        else:
            self.mark_distinct(decided_by=decided_by, reason=reason, decided_at=decided_at)
