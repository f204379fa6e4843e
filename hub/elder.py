"""The Elder aggregate: one stream per person, holding every fact from every source."""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from hub.facts import DatedFact
from hub.values import Identifier, Source

ELDER_NAMESPACE = uuid5(NAMESPACE_URL, "urn:yyhub:elder")


class Elder(Aggregate):
    """A person the hub keeps records about.

    The aggregate holds only what its rules need (its identifiers); the facts themselves live in
    the events and are read through projections.
    """

    @staticmethod
    def create_id(master_identifier: Identifier) -> UUID:
        """The elder's id is derived from the identifier that first named them."""
        return uuid5(ELDER_NAMESPACE, master_identifier.key)

    # Merge state (class defaults keep streams recorded before merges existed readable).
    merged_into: UUID | None = None
    absorbed: tuple[UUID, ...] = ()

    @event("Registered")
    def __init__(self, master_identifier: Identifier, source: Source, occurred_at: datetime):
        self.master_identifier = master_identifier
        self.identifiers: list[Identifier] = []

    @event("IdentifierLinked")
    def link_identifier(self, identifier: Identifier, source: Source, occurred_at: datetime) -> None:
        self.identifiers.append(identifier)

    @event("FactsRecorded")
    def record_facts(self, facts: tuple[DatedFact, ...], source: Source) -> None:
        """What one source said about this elder at once (a message's facts), all of one class
        of personal data. Facts change no state the aggregate guards; they live in the event.

        One event per message rather than per fact: a lab report of ten results is one write,
        one encryption and one projection step, not ten.
        """

    # Merge and unmerge are stated on both elders, so each stream tells its own story and the
    # read side can compose (and later split) the person without rewriting any fact.
    @event("MergedInto")
    def merge_into(self, survivor_id: UUID, decided_by: str, reason: str, source: Source,
                   occurred_at: datetime) -> None:
        self.merged_into = survivor_id

    @event("Absorbed")
    def absorb(self, merged_id: UUID, decided_by: str, reason: str, source: Source,
               occurred_at: datetime) -> None:
        self.absorbed = (*self.absorbed, merged_id)

    @event("Unmerged")
    def unmerge(self, partner_id: UUID, was_survivor: bool, decided_by: str, reason: str,
                source: Source, occurred_at: datetime) -> None:
        if was_survivor:
            self.absorbed = tuple(e for e in self.absorbed if e != partner_id)
        else:
            self.merged_into = None

    def has_identifier(self, identifier: Identifier) -> bool:
        return any(i.system == identifier.system and i.value == identifier.value
                   for i in self.identifiers)


def recorded_facts(event: object) -> tuple[DatedFact, ...]:
    """The facts an event of an elder's stream records (none for other events)."""
    if isinstance(event, Elder.FactsRecorded):
        return tuple(event.facts)
    return ()
