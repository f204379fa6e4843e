"""The application service: receive a mapped message and save it, with its facts, in one save."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from hub.audit import PersonalDataRead
from hub.contracts import ContractCommand, execute
from hub.elder import Elder
from hub.erasure import Erasure, clinical_retention_end
from hub.errors import HubError, PersonalDataErased
from hub.facts import Encounter, Fact
from hub.identity import IdentifierIndex, strength
from hub.inbound import ACCEPTED, DUPLICATE, REJECTED, Envelope, InboundMessage
from hub.organisations import Organisation
from hub.values import Identifier, Problem, Source

log = logging.getLogger(__name__)

# Each failed attempt means another writer committed, so this bounds the writers that can
# race on one elder at once (ten concurrent conditional creates must all succeed).
CONFLICT_ATTEMPTS = 16


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
    # A family-doctor contract change this message asks for; its status joins the facts.
    contract: ContractCommand | None = None
    # A reference to a known elder (FHIR `Patient/{id}`), tried before the identifiers.
    elder_id: UUID | None = None
    # Facts about someone the hub must already know (or who arrives in the same save).
    must_exist: bool = False
    location: str = ""  # where the sender named the subject, for the error
    # Conditional create (FHIR If-None-Exist): state nothing about someone already known. Checked
    # on every retry, so concurrent creates of one person leave exactly one set of facts.
    only_if_new: bool = False


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
    known_before: bool = False


@dataclass
class _SaveScope:
    """Elders and identifiers already in hand in one save, so several subjects can share them."""

    elders: dict[UUID, Elder] = field(default_factory=dict)
    pending: dict[str, UUID] = field(default_factory=dict)


class UnknownSubject(Exception):
    """Raised when a subject that must already exist names no known elder."""

    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


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
                return self._receive_once(envelope, mapped, problems)
            except IntegrityError:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                log.info("concurrent save for %s; retrying (%d)", envelope.natural_key, attempt)
        raise AssertionError("unreachable")

    def _receive_once(self, envelope: Envelope, mapped: MappedMessage | None,
                      problems: tuple[Problem, ...]) -> Receipt:
        message_id = InboundMessage.create_id(envelope.sender, envelope.control_id,
                                                envelope.sha256)
        existing = self._get_or_none(message_id)
        if existing is not None:
            return self._note_resend(existing, envelope)

        message = InboundMessage(
            sender=envelope.sender, channel=envelope.channel, control_id=envelope.control_id,
            message_type=envelope.message_type, sha256=envelope.sha256,
            received_at=envelope.received_at,
        )
        errors = tuple(p for p in problems if p.is_error)
        if mapped is None or errors:
            message.reject(problems or (Problem("unreadable", "message could not be read"),),
                           raw=envelope.raw)
            recordings = self.save(message)
            return Receipt(message_id, REJECTED, REJECTED, message.problems,
                           position=recordings[-1].notification.id)

        source = Source(mapped.organisation, envelope.channel, message_id)
        to_save: list[Any] = [message]
        elder_ids: list[UUID] = []
        warnings = list(problems) + list(mapped.warnings)
        fact_count = 0
        scope = _SaveScope()
        for subject in mapped.subjects:
            try:
                resolution = self._resolve(subject, source, warnings, scope)
            except UnknownSubject as error:
                message.reject((error.problem,), raw=envelope.raw)
                recordings = self.save(message)
                return Receipt(message_id, REJECTED, REJECTED, message.problems,
                               position=recordings[-1].notification.id)
            except PersonalDataErased:
                message.reject((Problem(
                    "subject-erased", "this person's data were erased at their request; the "
                    "message is not processed and its content is not kept"),), raw=b"")
                recordings = self.save(message)
                return Receipt(message_id, REJECTED, REJECTED, message.problems,
                               position=recordings[-1].notification.id)
            if resolution.known_before:
                if resolution.elder.id not in elder_ids:
                    elder_ids.append(resolution.elder.id)
                continue
            facts = subject.facts
            if subject.contract is not None:
                try:
                    changed, status = execute(subject.contract, resolution.elder.id,
                                              self._get_or_none)
                except HubError as refused:
                    message.reject((Problem(getattr(refused, "code", "refused"), str(refused),
                                            subject.contract.location),), raw=envelope.raw)
                    recordings = self.save(message)
                    return Receipt(message_id, REJECTED, REJECTED, message.problems,
                                   position=recordings[-1].notification.id)
                to_save.extend(changed)
                facts = (*facts, DatedFact(status, subject.occurred_at))
            for dated in facts:
                resolution.elder.record_fact(fact=dated.fact, source=source,
                                             occurred_at=dated.occurred_at)
                fact_count += 1
            to_save.extend(resolution.new_indexes)
            if resolution.elder.id not in elder_ids:
                elder_ids.append(resolution.elder.id)
        to_save.extend(scope.elders.values())
        message.accept(elder_ids=tuple(elder_ids), fact_count=fact_count,
                       warnings=tuple(warnings), raw=envelope.raw)
        recordings = self.save(*to_save)
        return Receipt(message_id, ACCEPTED, ACCEPTED, tuple(warnings), tuple(elder_ids),
                       recordings[-1].notification.id, fact_count)

    def _note_resend(self, existing: InboundMessage, envelope: Envelope) -> Receipt:
        same = existing.sha256 == envelope.sha256
        existing.note_resend(sha256=envelope.sha256, received_at=envelope.received_at,
                             same_content=same, raw=b"" if same else envelope.raw)
        recordings = self.save(existing)
        problems = existing.problems
        if not same:
            problems = (Problem(
                "control-id-reused",
                "a different message was already received with this control id; "
                "the new one is kept for review and not processed",
                location="MSH-10"),)
            return Receipt(existing.id, REJECTED, existing.outcome, problems,
                           existing.elder_ids, recordings[-1].notification.id)
        return Receipt(existing.id, DUPLICATE, existing.outcome, problems,
                       existing.elder_ids, recordings[-1].notification.id)

    def _resolve(self, subject: SubjectRecord, source: Source, warnings: list[Problem],
                 scope: _SaveScope | None = None) -> _Resolution:
        """Find the elder a subject's identifiers belong to, or register a new one."""
        scope = scope or _SaveScope()
        linkable = sorted((i for i in subject.identifiers if i.linkable), key=strength)
        known: dict[str, UUID] = {}
        if subject.elder_id is not None and (
                subject.elder_id in scope.elders
                or isinstance(self._get_or_none(subject.elder_id), Elder)):
            known["elder"] = subject.elder_id
        for identifier in linkable:
            if identifier.key in scope.pending:
                known[identifier.key] = scope.pending[identifier.key]
                continue
            index = self._get_or_none(IdentifierIndex.create_id(identifier))
            if index is not None:
                known[identifier.key] = index.elder_id
        elder_ids = list(dict.fromkeys(known.values()))
        if elder_ids:
            elder = scope.elders.get(elder_ids[0]) or self.repository.get(elder_ids[0])
            if subject.only_if_new:
                return _Resolution(elder, known_before=True)
            if len(elder_ids) > 1:
                warnings.append(Problem(
                    "identity-conflict",
                    "identifiers in this message belong to different elders; facts were "
                    "recorded on the elder of the strongest identifier and the pair awaits review",
                    severity="warning"))
        elif subject.must_exist:
            raise UnknownSubject(Problem(
                "unknown-subject", "the subject names no elder the hub knows",
                subject.location))
        elif not linkable:
            raise ValueError("a subject needs at least one linkable identifier")
        else:
            master = linkable[0]
            elder = Elder(master_identifier=master, source=source, occurred_at=subject.occurred_at)
        scope.elders[elder.id] = elder
        resolution = _Resolution(elder)
        for identifier in subject.identifiers:
            if identifier.key in known or elder.has_identifier(identifier):
                continue
            elder.link_identifier(identifier=identifier, source=source,
                                  occurred_at=subject.occurred_at)
            if identifier.linkable:
                scope.pending[identifier.key] = elder.id
                index = IdentifierIndex(identifier=identifier, elder_id=elder.id)
                resolution.new_indexes.append(index)
        return resolution

    def elder_for(self, identifier: Identifier) -> UUID | None:
        """The elder an identifier belongs to, from the write side (no projection lag)."""
        index = self._get_or_none(IdentifierIndex.create_id(identifier))
        return index.elder_id if index is not None else None

    def _get_or_none(self, aggregate_id: UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def register_organisation(self, code: str, name: str, role: str, key_hash: str,
                              sending_facilities: tuple[str, ...] = ()) -> int:
        """Register an organisation, or issue it a new key if it exists; returns the position."""
        existing = self._get_or_none(Organisation.create_id(code))
        if existing is None:
            organisation = Organisation(code=code, name=name, role=role, key_hash=key_hash,
                                        sending_facilities=tuple(sending_facilities))
        else:
            organisation = existing
            organisation.issue_key(key_hash=key_hash)
        return self.save(organisation)[-1].notification.id

    def record_read(self, *, organisation: str, role: str, elder_id: str, what: str,
                    purpose: str, request_id: str, read_at: datetime, outcome: str) -> int:
        """Keep the audit record of one read (or refused read) of personal data."""
        record = PersonalDataRead(organisation=organisation, role=role, elder_id=elder_id,
                                  what=what, purpose=purpose, request_id=request_id,
                                  read_at=read_at, outcome=outcome)
        return self.save(record)[-1].notification.id

    def elder_events(self, elder_id: UUID) -> list[Any]:
        """Every event in an elder's stream, oldest first (for as-of replay).

        After an erasure, events whose key was destroyed are left out; what remains (clinical
        records still under retention) is what a regulator may see.
        """
        readable = []
        for stored in self.recorder.select_events(elder_id):
            try:
                readable.append(self.mapper.to_domain_event(stored))
            except PersonalDataErased:
                continue
        return readable

    def request_erasure(self, elder_id: UUID, requested_by: str, legal_basis: str,
                        requested_at: datetime) -> Erasure:
        """Freeze an elder and fix when their clinical records may be destroyed."""
        existing = self._get_or_none(Erasure.create_id(elder_id))
        if existing is not None:
            return existing  # type: ignore[no-any-return]
        visits = []
        for event in self.elder_events(elder_id):
            fact = getattr(event, "fact", None)
            if isinstance(fact, Encounter):
                when = fact.discharged_at or fact.admitted_at or event.occurred_at
                visits.append((fact.patient_class.code if fact.patient_class else "", when))
        erasure = Erasure(elder_id=elder_id, requested_by=requested_by, legal_basis=legal_basis,
                          requested_at=requested_at,
                          clinical_retained_until=clinical_retention_end(visits, requested_at))
        self.save(erasure)
        return erasure

    def record_clinical_destroyed(self, elder_id: UUID, destroyed_at: datetime) -> None:
        erasure = self.repository.get(Erasure.create_id(elder_id))
        if not erasure.clinical_destroyed:
            erasure.destroy_clinical(destroyed_at=destroyed_at)
            self.save(erasure)

    def erasures(self) -> list[Erasure]:
        """Every erasure ever requested (they are few; read from the log)."""
        found = []
        for notification in self.recorder.select_notifications(
                start=None, limit=10**9, topics=[get_topic(Erasure.Requested)]):
            found.append(self.repository.get(notification.originator_id))
        return found
