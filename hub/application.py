"""The application service: receive a mapped message and save it, with its facts, in one save."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from hub.elder import Elder
from hub.facts import Fact
from hub.identity import IdentifierIndex, strength
from hub.inbound import ACCEPTED, DUPLICATE, REJECTED, Envelope, InboundMessage
from hub.values import Identifier, Problem, Source

log = logging.getLogger(__name__)

CONFLICT_ATTEMPTS = 8


@dataclass(frozen=True)
class DatedFact:
    """A fact and the moment it happened according to its source."""

    fact: Fact
    occurred_at: datetime


@dataclass(frozen=True)
class SubjectRecord:
    """The facts one message states about one person, and how it identifies them."""

    identifiers: tuple[Identifier, ...]
    facts: tuple[DatedFact, ...]
    occurred_at: datetime


@dataclass(frozen=True)
class MappedMessage:
    """What a mapping made of one inbound message."""

    organisation: str
    subjects: tuple[SubjectRecord, ...]
    warnings: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class Receipt:
    """What the hub did with a message; adapters turn it into an ACK or an HTTP answer."""

    message_id: UUID
    outcome: str  # accepted | rejected | duplicate
    first_outcome: str
    problems: tuple[Problem, ...] = ()
    elder_ids: tuple[UUID, ...] = ()
    position: int | None = None
    fact_count: int = 0

    @property
    def stored(self) -> bool:
        return self.outcome in (ACCEPTED, DUPLICATE) and self.first_outcome == ACCEPTED


@dataclass
class _Resolution:
    elder: Elder
    new_indexes: list[IdentifierIndex] = field(default_factory=list)


class _UnitOfWork:
    """The aggregates one save will write: read once, changed by every message of a batch."""

    def __init__(self, app: HubApplication, optimistic: bool = False):
        self.app = app
        self.aggregates: dict[UUID, Any] = {}
        # Optimistic: new messages are not looked up first; the store's unique key rejects a
        # resend at save time, and the caller then records the batch carefully.
        self.optimistic = optimistic

    def elder_of(self, index_id: UUID) -> UUID | None:
        """The elder an identifier index names: from this save, the app's cache, or the store.

        An index is written once and never changes, so a cached answer stays true.
        """
        if index_id in self.aggregates:
            return self.aggregates[index_id].elder_id  # type: ignore[no-any-return]
        known = self.app.elder_by_index.get(index_id)
        if known is not None:
            return known
        index = self.get(index_id)
        if index is None:
            return None
        self.app.elder_by_index[index_id] = index.elder_id
        return index.elder_id  # type: ignore[no-any-return]

    def get(self, aggregate_id: UUID) -> Any:
        if aggregate_id not in self.aggregates:
            try:
                self.aggregates[aggregate_id] = self.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
        return self.aggregates[aggregate_id]

    def add(self, *aggregates: Any) -> None:
        for aggregate in aggregates:
            self.aggregates[aggregate.id] = aggregate

    def changed(self) -> list[Any]:
        return [a for a in self.aggregates.values() if a.pending_events]


class HubApplication(Application[UUID]):
    """Keeps every inbound message and the facts it carries about elders."""

    name = "YiyangHub"

    def receive(self, envelope: Envelope, mapped: MappedMessage | None,
                problems: tuple[Problem, ...] = ()) -> Receipt:
        """Record an inbound message once; a resend finds the first record and adds no facts.

        `mapped` is None when the message could not be read; `problems` then says why. Retries
        itself when a concurrent save took an identifier or the message first.
        """
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return self._receive_together([(envelope, mapped, problems)])[0]
            except IntegrityError:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                log.info("concurrent save for %s; retrying (%d)", envelope.natural_key, attempt)
        raise AssertionError("unreachable")

    elder_by_index: dict[UUID, UUID]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.elder_by_index = {}

    def receive_many(self, items: list[tuple[Envelope, MappedMessage | None,
                                             tuple[Problem, ...]]]) -> list[Receipt]:
        """Record messages that arrived together in one atomic save (one commit, one lock).

        Each is decided exactly as `receive` would, in order; if the save meets a concurrent
        writer, they are recorded one by one instead, each with its own retries.
        """
        if len(items) > 1:
            try:
                return self._receive_together(items, optimistic=True)
            except IntegrityError:
                log.info("a batch of %d met a resend or a concurrent save; recording one by "
                         "one", len(items))
        return [self.receive(*item) for item in items]

    def _receive_together(self, items: list[tuple[Envelope, MappedMessage | None,
                                                  tuple[Problem, ...]]],
                          optimistic: bool = False) -> list[Receipt]:
        work = _UnitOfWork(self, optimistic)
        receipts = [self._receive_into(work, *item) for item in items]
        recordings = self.save(*work.changed())
        for aggregate in work.aggregates.values():
            if isinstance(aggregate, IdentifierIndex):
                self.elder_by_index[aggregate.id] = aggregate.elder_id
        position = recordings[-1].notification.id if recordings else None
        return [replace(r, position=position) for r in receipts]

    def _receive_into(self, work: _UnitOfWork, envelope: Envelope,
                      mapped: MappedMessage | None, problems: tuple[Problem, ...]) -> Receipt:
        message_id = InboundMessage.create_id(envelope.sender, envelope.control_id,
                                                envelope.sha256)
        if work.optimistic and message_id not in work.aggregates:
            existing = None
        else:
            existing = work.get(message_id)
        reused: tuple[Problem, ...] = ()
        if existing is not None and existing.sha256 != envelope.sha256:
            # Senders reuse control ids (counters reset, copied test messages): a different
            # message under a used id is its own message, known by id and content together.
            message_id = InboundMessage.create_id(
                envelope.sender, envelope.control_id, envelope.sha256, content_keyed=True)
            existing = work.get(message_id)
            reused = (Problem(
                "control-id-reused",
                "a different message was already received with this control id; this one "
                "is kept as a separate message", location="MSH-10", severity="warning"),)
        if existing is not None:
            existing.note_resend(sha256=envelope.sha256, received_at=envelope.received_at,
                                 same_content=existing.sha256 == envelope.sha256)
            return Receipt(existing.id, DUPLICATE, existing.outcome, existing.problems,
                           existing.elder_ids)

        message = InboundMessage(
            sender=envelope.sender, channel=envelope.channel, control_id=envelope.control_id,
            message_type=envelope.message_type, raw=envelope.raw, sha256=envelope.sha256,
            received_at=envelope.received_at, content_keyed=bool(reused),
        )
        work.add(message)
        return self._decide(work, message, mapped, tuple(problems) + reused)

    def reprocess(self, message_id: UUID, mapped: MappedMessage | None,
                  problems: tuple[Problem, ...] = ()) -> Receipt:
        """Decide a kept message again with today's mappings (`yyhub reprocess`).

        The new outcome is recorded on the same InboundMessage after a `Reprocessed` event, and
        the facts it yields carry that message as their source, in one atomic save. A message
        that was accepted is left as it is.
        """
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            work = _UnitOfWork(self)
            message: InboundMessage = work.get(message_id)
            if message.outcome == ACCEPTED:
                return Receipt(message.id, DUPLICATE, ACCEPTED, message.problems,
                               message.elder_ids)
            message.note_reprocessing(previous_outcome=message.outcome,
                                      previous_problems=message.problems)
            receipt = self._decide(work, message, mapped, problems)
            try:
                recordings = self.save(*work.changed())
            except IntegrityError:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                log.info("concurrent save while reprocessing %s; retrying (%d)", message_id,
                         attempt)
                continue
            return replace(receipt, position=recordings[-1].notification.id)
        raise AssertionError("unreachable")

    def raw_message(self, message_id: UUID) -> bytes:
        """The bytes a message arrived with, as its first event kept them."""
        received: Any = next(iter(self.events.get(message_id, limit=1)))
        return bytes(received.raw)

    def _decide(self, work: _UnitOfWork, message: InboundMessage,
                mapped: MappedMessage | None, problems: tuple[Problem, ...]) -> Receipt:
        """Accept the message with its facts, or reject it with reasons (saved by the caller)."""
        errors = tuple(p for p in problems if p.is_error)
        if mapped is None or errors:
            message.reject(problems or (Problem("unreadable", "message could not be read"),))
            return Receipt(message.id, REJECTED, REJECTED, message.problems)

        source = Source(mapped.organisation, message.channel, message.id)
        elder_ids: list[UUID] = []
        warnings = list(problems) + list(mapped.warnings)
        fact_count = 0
        for subject in mapped.subjects:
            resolution = self._resolve(work, subject, source, warnings)
            for dated in subject.facts:
                resolution.elder.record_fact(fact=dated.fact, source=source,
                                             occurred_at=dated.occurred_at)
                fact_count += 1
            work.add(resolution.elder, *resolution.new_indexes)
            elder_ids.append(resolution.elder.id)
        message.accept(elder_ids=tuple(elder_ids), fact_count=fact_count,
                       warnings=tuple(warnings))
        return Receipt(message.id, ACCEPTED, ACCEPTED, tuple(warnings), tuple(elder_ids),
                       None, fact_count)

    def _resolve(self, work: _UnitOfWork, subject: SubjectRecord, source: Source,
                 warnings: list[Problem]) -> _Resolution:
        """Find the elder a subject's identifiers belong to, or register a new one."""
        linkable = sorted((i for i in subject.identifiers if i.linkable), key=strength)
        if not linkable:
            raise ValueError("a subject needs at least one linkable identifier")
        known: dict[str, UUID] = {}
        for identifier in linkable:
            elder_id = work.elder_of(IdentifierIndex.create_id(identifier))
            if elder_id is not None:
                known[identifier.key] = elder_id
        elder_ids = list(dict.fromkeys(known.values()))
        elder: Elder
        if elder_ids:
            elder = work.get(elder_ids[0])
            if len(elder_ids) > 1:
                warnings.append(Problem(
                    "identity-conflict",
                    "identifiers in this message belong to different elders; facts were "
                    "recorded on the elder of the strongest identifier and the pair awaits review",
                    severity="warning"))
        else:
            master = linkable[0]
            elder = Elder(master_identifier=master, source=source, occurred_at=subject.occurred_at)
        resolution = _Resolution(elder)
        for identifier in subject.identifiers:
            if identifier.key in known or elder.has_identifier(identifier):
                continue
            elder.link_identifier(identifier=identifier, source=source,
                                  occurred_at=subject.occurred_at)
            if identifier.linkable:
                index = IdentifierIndex(identifier=identifier, elder_id=elder.id)
                resolution.new_indexes.append(index)
        return resolution

    def elder_events(self, elder_id: UUID) -> list[Any]:
        """Every event in an elder's stream, oldest first (for as-of replay)."""
        return list(self.events.get(elder_id))
