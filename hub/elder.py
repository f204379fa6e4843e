"""The Elder aggregate: one stream per person, holding every fact from every source."""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from hub.facts import Fact
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

    @event("Registered")
    def __init__(self, master_identifier: Identifier, source: Source, occurred_at: datetime):
        self.master_identifier = master_identifier
        self.identifiers: list[Identifier] = []

    @event("IdentifierLinked")
    def link_identifier(self, identifier: Identifier, source: Source, occurred_at: datetime) -> None:
        self.identifiers.append(identifier)

    @event("FactRecorded")
    def record_fact(self, fact: Fact, source: Source, occurred_at: datetime) -> None:
        """Facts change no state the aggregate guards; they are kept in the event only."""

    def has_identifier(self, identifier: Identifier) -> bool:
        return any(i.system == identifier.system and i.value == identifier.value
                   for i in self.identifiers)
