"""The read audit: every read of personal data is an append-only event (PIPL art. 28)."""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import Aggregate, event


class PersonalDataRead(Aggregate):
    """One read of one elder's data: who, in what role, what, why, when, which request.

    One small aggregate per read keeps concurrent readers from contending on a shared stream.
    """

    @event("Recorded")
    def __init__(self, organisation: str, role: str, elder_id: str, what: str, purpose: str,
                 request_id: str, read_at: datetime, outcome: str):
        self.organisation = organisation
        self.elder_id = elder_id
