"""The application service: receive mapped messages and save each, with its facts, atomically.

Messages that arrive together (an MLLP sender's pipelined messages) are saved in one commit;
each is still decided on its own, and a message that is refused leaves no facts behind.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, tzinfo
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    LRUCache,
    ProcessingEvent,
    project_aggregate,
)
from eventsourcing.persistence import IntegrityError, Recording
from eventsourcing.utils import get_topic

from hub.audit import PersonalDataRead
from hub.contracts import ContractCommand, execute
from hub.elder import Elder, recorded_facts
from hub.erasure import Erasure, clinical_retention_end
from hub.errors import HubError, PersonalDataErased
from hub.facts import DatedFact, Demographics, Encounter
from hub.group_commit import GroupCommit
from hub.identity import IdentifierIndex, strength
from hub.identity_review import MatchCandidate
from hub.inbound import ACCEPTED, DUPLICATE, REJECTED, Envelope, InboundMessage
from hub.organisations import Organisation
from hub.projections import statistics as statistics_fold
from hub.values import Identifier, Problem, Source

log = logging.getLogger(__name__)

# Each failed attempt means another writer committed, so this bounds the writers that can
# race on one elder at once (ten concurrent conditional creates must all succeed).
CONFLICT_ATTEMPTS = 16

Item = tuple[Envelope, "MappedMessage | None", tuple[Problem, ...]]


@dataclass(frozen=True)
class MergeRequest:
    """A sender says its subject and another record are one person (HL7 A40's MRG, a FHIR
    Patient.link); `subject_survives` says which of the two keeps the person."""

    other: tuple[Identifier, ...] = ()
    other_elder_id: UUID | None = None
    subject_survives: bool = True
    location: str = ""


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
    # Other records this subject is the same person as (merged after the facts are recorded).
    merges: tuple[MergeRequest, ...] = ()


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
    # Registered the elder or linked an identifier: resolving the same subject again may differ.
    changed: bool = False


def _person(work: _UnitOfWork, elder_id: UUID) -> UUID:
    """Follow merges to the surviving elder (merges only ever join two survivors: no cycles)."""
    seen = {elder_id}
    elder = work.get(elder_id)
    while isinstance(elder, Elder) and elder.merged_into is not None \
            and elder.merged_into not in seen:
        seen.add(elder.merged_into)
        elder = work.get(elder.merged_into)
    return elder.id if isinstance(elder, Elder) else elder_id


def _merge(work: _UnitOfWork, survivor_id: UUID, merged_id: UUID, *, decided_by: str,
           reason: str, source: Source, occurred_at: datetime) -> bool:
    """Record a merge on both persons' surviving elders; False when they are one already."""
    survivor_id, merged_id = _person(work, survivor_id), _person(work, merged_id)
    if survivor_id == merged_id:
        return False
    survivor, merged = work.get(survivor_id), work.get(merged_id)
    merged.merge_into(survivor_id=survivor_id, decided_by=decided_by, reason=reason,
                      source=source, occurred_at=occurred_at)
    survivor.absorb(merged_id=merged_id, decided_by=decided_by, reason=reason, source=source,
                    occurred_at=occurred_at)
    work.add(survivor, merged)
    return True


def record_facts(elder: Elder, facts: tuple[DatedFact, ...] | list[DatedFact],
                 source: Source) -> None:
    """Record one source's facts on an elder: one event for the contact data among them and one
    for the clinical, since erasure destroys the two at different times."""
    contact = tuple(f for f in facts if f.is_contact_data)
    clinical = tuple(f for f in facts if not f.is_contact_data)
    for part in (contact, clinical):
        if part:
            elder.record_facts(facts=part, source=source)


def _warn_unlinkable(identifiers: tuple[Identifier, ...], warnings: list[Problem]) -> None:
    """Tell the sender, whatever the channel, that an identifier was kept but will never link
    (a 身份证 failing GB 11643); a mapping that already said so is not repeated."""
    for identifier in identifiers:
        if identifier.linkable or any(w.code == "identifier-invalid" and identifier.value
                                      in w.message for w in warnings):
            continue
        warnings.append(Problem(
            "identifier-invalid", f"identifier {identifier.value} ({identifier.system}) fails "
            "validation; kept on the record but not used to link", severity="warning"))


class UnknownSubject(Exception):
    """Raised when a subject that must already exist names no known elder."""

    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


class _Refused(Exception):
    """Raised inside a decision when the message must be rejected and leave no facts."""

    def __init__(self, problem: Problem, keep_raw: bool = True):
        super().__init__(problem.message)
        self.problem = problem
        self.keep_raw = keep_raw


class _UnitOfWork:
    """The aggregates one save will write: read once, changed by every message of a batch.

    `tentative()` gives one message a copy-on-write view: what it changes reaches the batch
    only when it is accepted (`commit`), so a refused message leaves nothing behind.
    """

    def __init__(self, app: HubApplication, optimistic: bool = False,
                 parent: _UnitOfWork | None = None):
        self.app = app
        self.aggregates: dict[UUID, Any] = {}
        self.parent = parent
        # Optimistic: new messages are not looked up first; the store's unique key rejects a
        # resend at save time, and the caller then records the batch carefully.
        self.optimistic = optimistic

    def tentative(self) -> _UnitOfWork:
        return _UnitOfWork(self.app, self.optimistic, parent=self)

    def commit(self) -> None:
        assert self.parent is not None
        self.parent.aggregates.update(self.aggregates)

    def elder_of(self, index_id: UUID) -> UUID | None:
        """The elder an identifier index names: from this save, the app's cache, or the store.

        An index is written once and never changes, so a cached answer stays true.
        """
        index = self._held(index_id)
        if index is not None:
            return index.elder_id  # type: ignore[no-any-return]
        try:
            return self.app.elder_by_index.get(index_id)  # type: ignore[no-any-return]
        except KeyError:
            pass
        index = self.get(index_id, snapshotted=False)
        if index is None:
            return None
        self.app.elder_by_index.put(index_id, index.elder_id)
        return index.elder_id  # type: ignore[no-any-return]

    def _held(self, aggregate_id: UUID) -> Any:
        unit: _UnitOfWork | None = self
        while unit is not None:
            if aggregate_id in unit.aggregates:
                return unit.aggregates[aggregate_id]
            unit = unit.parent
        return None

    def get(self, aggregate_id: UUID, snapshotted: bool = True) -> Any:
        """`snapshotted=False` for kinds never snapshotted (messages, identifier indexes): their
        events are read without first asking the snapshot table, one query instead of two."""
        if aggregate_id in self.aggregates:
            return self.aggregates[aggregate_id]
        held = self.parent._held(aggregate_id) if self.parent is not None else None
        if held is not None:
            # Copy on write: the batch keeps its own copy until this message is accepted.
            self.aggregates[aggregate_id] = copy.deepcopy(held)
            return self.aggregates[aggregate_id]
        if not snapshotted:
            found = project_aggregate(None, self.app.repository.event_store.get(aggregate_id))
        else:
            found = self.app.elders.get(aggregate_id)
            if found is None:
                with contextlib.suppress(AggregateNotFoundError):
                    found = self.app.repository.get(aggregate_id)
        if found is None:
            return None
        self.aggregates[aggregate_id] = found
        return found

    def add(self, *aggregates: Any) -> None:
        for aggregate in aggregates:
            self.aggregates[aggregate.id] = aggregate

    def changed(self) -> list[Any]:
        return [a for a in self.aggregates.values() if a.pending_events]


class ElderCache:
    """The elders this process last saved, as saved: deciding on a message needs only an
    elder's small state (identifiers, merges), and rebuilding it means reading back, decrypting
    and decoding every fact in the stream — most of the cost of a message.

    A cached elder may be stale when another process wrote to it since; a save made on it then
    meets that write's version and fails, `HubApplication._record` drops the elders of the
    failed save, and the caller's retry reads them fresh. Hands out copies: a command may change
    what it got and then be refused.
    """

    def __init__(self, maxsize: int = 20_000):
        self._elders: LRUCache[UUID, Elder] = LRUCache(maxsize=maxsize)

    def get(self, elder_id: UUID) -> Elder | None:
        try:
            return copy.deepcopy(self._elders.get(elder_id))
        except KeyError:
            return None

    def put(self, elder: Elder) -> None:
        self._elders.put(elder.id, elder)

    def forget(self, *elder_ids: UUID) -> None:
        for elder_id in elder_ids:
            with contextlib.suppress(KeyError):
                self._elders.get(elder_id, evict=True)


class HubApplication(Application[UUID]):
    """Keeps every inbound message and the facts it carries about elders."""

    name = "YiyangHub"
    elder_by_index: LRUCache[UUID, UUID]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # Bounded: a city names millions of identifiers; the recent ones are the ones that recur.
        self.elder_by_index = LRUCache(maxsize=100_000)
        self.elders = ElderCache()
        # Reads are audited before they are answered; at hundreds of reads a second their
        # records share commits (hub/group_commit.py).
        self.audit_commit = GroupCommit(self.save)

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Record, then remember the elders as saved; forget them when the save failed."""
        try:
            recordings = super()._record(processing_event)
        except BaseException:
            self.elders.forget(*processing_event.aggregates)
            raise
        for aggregate in processing_event.aggregates.values():
            if isinstance(aggregate, Elder):
                self.elders.put(aggregate)
        return recordings

    def receive(self, envelope: Envelope, mapped: MappedMessage | None,
                problems: tuple[Problem, ...] = ()) -> Receipt:
        """Record an inbound message once; a resend finds the first record and adds no facts.

        `mapped` is None when the message could not be read; `problems` then says why. Decides
        the message again when its save meets a resend of it, or a concurrent save took an
        identifier or the message first.
        """
        # First optimistically, without looking the message up: most messages are new, and
        # the store's unique key refuses a resend at save time, which is then decided again
        # reading everything fresh.
        for attempt in range(CONFLICT_ATTEMPTS + 1):
            try:
                return self._receive_together([(envelope, mapped, problems)],
                                              optimistic=attempt == 0)[0]
            except IntegrityError:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                log.info("a resend of %s, or a concurrent save; deciding it again (%d)",
                         envelope.natural_key, attempt + 1)
        raise AssertionError("unreachable")

    def receive_many(self, items: list[Item]) -> list[Receipt]:
        """Record messages that arrived together in one atomic save (one commit, one lock).

        Each is decided exactly as `receive` would, in order. A save that meets a version
        another process wrote (this process's cached elder was stale; the failed save forgot
        it) or a resend is decided again once, as a batch that reads every message and elder
        fresh; only if that meets a concurrent writer too are they recorded one by one, each
        with its own retries.
        """
        if len(items) > 1:
            for optimistic in (True, False):
                try:
                    return self._receive_together(items, optimistic=optimistic)
                except IntegrityError:
                    log.info("a batch of %d met a resend or another process's save (%s)",
                             len(items), "reading it fresh" if optimistic else "one by one")
        return [self.receive(*item) for item in items]

    def _receive_together(self, items: list[Item], optimistic: bool = False) -> list[Receipt]:
        work = _UnitOfWork(self, optimistic)
        receipts = [self._receive_into(work, *item) for item in items]
        recordings = self.save(*work.changed())
        for aggregate in work.aggregates.values():
            if isinstance(aggregate, IdentifierIndex):
                self.elder_by_index.put(aggregate.id, aggregate.elder_id)
        position = recordings[-1].notification.id if recordings else None
        return [replace(r, position=position) for r in receipts]

    def _receive_into(self, work: _UnitOfWork, envelope: Envelope,
                      mapped: MappedMessage | None, problems: tuple[Problem, ...]) -> Receipt:
        message_id = InboundMessage.create_id(envelope.sender, envelope.control_id,
                                                envelope.sha256)
        if work.optimistic and message_id not in work.aggregates:
            existing = None
        else:
            existing = work.get(message_id, snapshotted=False)
        reused: tuple[Problem, ...] = ()
        if existing is not None and existing.sha256 != envelope.sha256:
            # Senders reuse control ids (counters reset, copied test messages): a different
            # message under a used id is its own message, known by id and content together.
            message_id = InboundMessage.create_id(
                envelope.sender, envelope.control_id, envelope.sha256, content_keyed=True)
            existing = work.get(message_id, snapshotted=False)
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
            message_type=envelope.message_type, sha256=envelope.sha256,
            received_at=envelope.received_at, content_keyed=bool(reused),
        )
        work.add(message)
        return self._decide(work, message, envelope.raw, mapped, tuple(problems) + reused)

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
            receipt = self._decide(work, message, message.raw, mapped, problems)
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
        """The bytes a message arrived with (kept with its outcome)."""
        return bytes(self.repository.get(message_id).raw)

    def _decide(self, work: _UnitOfWork, message: InboundMessage, raw: bytes,
                mapped: MappedMessage | None, problems: tuple[Problem, ...]) -> Receipt:
        """Accept the message with its facts, or reject it with reasons (saved by the caller)."""
        errors = tuple(p for p in problems if p.is_error)
        if mapped is None or errors:
            message.reject(problems or (Problem("unreadable", "message could not be read"),),
                           raw=raw)
            return Receipt(message.id, REJECTED, REJECTED, message.problems)
        tentative = work.tentative()
        try:
            receipt = self._apply(tentative, message, mapped, problems)
        except _Refused as refused:
            message.reject((refused.problem,), raw=raw if refused.keep_raw else b"")
            return Receipt(message.id, REJECTED, REJECTED, message.problems)
        tentative.commit()
        message.accept(elder_ids=receipt.elder_ids, fact_count=receipt.fact_count,
                       warnings=receipt.problems, raw=raw)
        return receipt

    def _apply(self, work: _UnitOfWork, message: InboundMessage, mapped: MappedMessage,
               problems: tuple[Problem, ...]) -> Receipt:
        """Record the facts of every subject in `work`; raises _Refused to reject the message."""
        source = Source(mapped.organisation, message.channel, message.id)
        elder_ids: list[UUID] = []
        warnings = list(problems) + list(mapped.warnings)
        fact_count = 0
        # Facts of consecutive subjects about one elder (a FHIR Bundle's resources, an ORU's
        # results) are recorded together, as one event per class of data.
        pending: tuple[Elder | None, list[DatedFact]] = (None, [])

        def flush() -> None:
            elder, facts = pending
            if elder is not None and facts:
                record_facts(elder, facts, source)
            facts.clear()

        # A Bundle's resources or an ORU's results name one person hundreds of times alike:
        # once such a subject has resolved without changing anything, its twins resolve alike.
        settled: dict[tuple[Any, ...], Elder] = {}
        for subject in mapped.subjects:
            twin = (subject.identifiers, subject.elder_id, subject.must_exist,
                    subject.only_if_new)
            try:
                if twin in settled:
                    resolution = _Resolution(settled[twin])
                else:
                    said = len(warnings)
                    resolution = self._resolve(work, subject, source, warnings)
                    if not (resolution.changed or resolution.known_before
                            or len(warnings) > said):
                        settled[twin] = resolution.elder
            except UnknownSubject as error:
                raise _Refused(error.problem) from error
            except PersonalDataErased as error:
                raise _Refused(Problem(
                    "subject-erased", "this person's data were erased at their request; the "
                    "message is not processed and its content is not kept"),
                    keep_raw=False) from error
            if resolution.elder.id not in elder_ids:
                elder_ids.append(resolution.elder.id)
            if resolution.known_before:
                continue
            facts = subject.facts
            if subject.contract is not None:
                try:
                    changed, status = execute(subject.contract, resolution.elder.id, work.get)
                except HubError as refused:
                    raise _Refused(Problem(getattr(refused, "code", "refused"), str(refused),
                                           subject.contract.location)) from refused
                work.add(*changed)
                facts = (*facts, DatedFact(status, subject.occurred_at))
            if pending[0] is not resolution.elder:
                flush()
                pending = (resolution.elder, [])
            pending[1].extend(facts)
            fact_count += len(facts)
            work.add(resolution.elder, *resolution.new_indexes)
            if subject.merges:
                flush()
                settled.clear()  # a merge moves identifiers between elders
            for request in subject.merges:
                self._merge_requested(work, resolution.elder, request, source,
                                      subject.occurred_at, warnings)
        flush()
        return Receipt(message.id, ACCEPTED, ACCEPTED, tuple(warnings), tuple(elder_ids),
                       None, fact_count)

    def _resolve(self, work: _UnitOfWork, subject: SubjectRecord, source: Source,
                 warnings: list[Problem]) -> _Resolution:
        """Find the elder a subject names (by reference or identifiers), or register one."""
        linkable = sorted((i for i in subject.identifiers if i.linkable), key=strength)
        known: dict[str, UUID] = {}
        if subject.elder_id is not None and isinstance(work.get(subject.elder_id), Elder):
            known["elder"] = subject.elder_id
        for identifier in linkable:
            elder_id = work.elder_of(IdentifierIndex.create_id(identifier))
            if elder_id is not None:
                known[identifier.key] = elder_id
        elder_ids = list(dict.fromkeys(known.values()))
        elder: Elder
        if elder_ids:
            elder = work.get(elder_ids[0])
            if subject.only_if_new:
                return _Resolution(elder, known_before=True)
            if len({_person(work, e) for e in elder_ids}) > 1:
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
            elder = Elder(master_identifier=linkable[0], source=source,
                          occurred_at=subject.occurred_at)
            work.add(elder)
        resolution = _Resolution(elder, changed=not elder_ids)
        _warn_unlinkable(subject.identifiers, warnings)
        for identifier in subject.identifiers:
            if identifier.key in known or elder.has_identifier(identifier):
                continue
            elder.link_identifier(identifier=identifier, source=source,
                                  occurred_at=subject.occurred_at)
            resolution.changed = True
            if identifier.linkable:
                index = IdentifierIndex(identifier=identifier, elder_id=elder.id)
                work.add(index)
                resolution.new_indexes.append(index)
        return resolution

    def _merge_requested(self, work: _UnitOfWork, subject: Elder, request: MergeRequest,
                         source: Source, occurred_at: datetime, warnings: list[Problem]) -> None:
        """Merge the record a sender names into its subject (or the subject into it)."""
        other_id = request.other_elder_id
        if other_id is None or not isinstance(work.get(other_id), Elder):
            other_id = next((found for i in request.other if i.linkable
                             if (found := work.elder_of(IdentifierIndex.create_id(i)))), None)
        if other_id is None:
            # A record the hub never saw: its identifiers now name the survivor, so a late
            # message under the old number finds the person. Nothing else to merge.
            if request.subject_survives:
                for identifier in request.other:
                    if not subject.has_identifier(identifier) and identifier.linkable:
                        subject.link_identifier(identifier=identifier, source=source,
                                                occurred_at=occurred_at)
                        work.add(IdentifierIndex(identifier=identifier, elder_id=subject.id))
            warnings.append(Problem(
                "merge-unknown-record", "the record to merge names no elder the hub knows"
                + ("; its identifiers now name the surviving elder"
                   if request.subject_survives else "; nothing was merged"),
                request.location, severity="warning"))
            return
        survivor, merged = (subject.id, other_id) if request.subject_survives \
            else (other_id, subject.id)
        done = _merge(work, survivor, merged, decided_by=source.organisation,
                      reason=f"merge stated by {source.organisation} ({source.channel})",
                      source=source, occurred_at=occurred_at)
        if not done:
            warnings.append(Problem("already-merged", "the two records are already one person",
                                    request.location, severity="warning"))

    def _save_decision(self, decide: Callable[[_UnitOfWork], bool]) -> int | None:
        """Save what an operator decided; decided again on fresh aggregates when a concurrent
        writer changed one of them. None when the decision changed nothing."""
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            work = _UnitOfWork(self)
            if not decide(work):
                return None
            try:
                return self.save(*work.changed())[-1].notification.id
            except IntegrityError:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def merge(self, survivor_id: UUID, merged_id: UUID, *, decided_by: str, reason: str,
              occurred_at: datetime) -> int | None:
        """An operator's decision that two elders are one person; returns the position, or
        None when they already are. Merging a person that absorbed others takes them along."""
        source = Source(decided_by, "identity-review", uuid4())

        def decide(work: _UnitOfWork) -> bool:
            for elder_id in (survivor_id, merged_id):
                if not isinstance(work.get(elder_id), Elder):
                    raise HubError(f"no elder {elder_id}")
            return _merge(work, survivor_id, merged_id, decided_by=decided_by, reason=reason,
                          source=source, occurred_at=occurred_at)
        return self._save_decision(decide)

    def unmerge(self, merged_id: UUID, *, decided_by: str, reason: str,
                occurred_at: datetime) -> int | None:
        """Undo a merge: the elder and what it absorbed are their own person again. Facts were
        never moved, so both are exactly what their own streams say, in between included."""
        source = Source(decided_by, "identity-review", uuid4())

        def decide(work: _UnitOfWork) -> bool:
            merged = work.get(merged_id)
            if not isinstance(merged, Elder) or merged.merged_into is None:
                raise HubError(f"elder {merged_id} is not merged into anyone")
            survivor = work.get(merged.merged_into)
            for elder, partner, was_survivor in ((merged, survivor.id, False),
                                                 (survivor, merged.id, True)):
                elder.unmerge(partner_id=partner, was_survivor=was_survivor,
                              decided_by=decided_by, reason=reason, source=source,
                              occurred_at=occurred_at)
            return True
        return self._save_decision(decide)

    def propose_candidate(self, existing: UUID, newcomer: UUID, score: int, grade: str,
                          reasons: tuple[str, ...], found_at: datetime) -> int | None:
        """Put a look-alike pair in front of an operator once; None if it was already."""
        candidate_id = MatchCandidate.create_id(existing, newcomer)
        if self._get_or_none(candidate_id) is not None:
            return None
        candidate = MatchCandidate(existing=existing, newcomer=newcomer, score=score,
                                   grade=grade, reasons=tuple(reasons), found_at=found_at)
        try:
            return self.save(candidate)[-1].notification.id
        except IntegrityError:
            return None  # another worker proposed the same pair at the same moment

    def decide_candidate(self, candidate_id: UUID, *, link: bool, decided_by: str,
                         reason: str, decided_at: datetime) -> int | None:
        """An operator's decision on a candidate; linking merges the newcomer into the elder
        known first, in the same save as the decision."""
        def decide(work: _UnitOfWork) -> bool:
            candidate = work.get(candidate_id)
            if not isinstance(candidate, MatchCandidate):
                raise HubError(f"no candidate {candidate_id}")
            candidate.decide(link, decided_by=decided_by, reason=reason, decided_at=decided_at)
            if link:
                _merge(work, candidate.existing, candidate.newcomer, decided_by=decided_by,
                       reason=reason, source=Source(decided_by, "identity-review", candidate.id),
                       occurred_at=decided_at)
            return True
        return self._save_decision(decide)

    def person_of(self, elder_id: UUID) -> UUID:
        """The elder whose person this elder's stream belongs to (itself unless merged)."""
        return _person(_UnitOfWork(self), elder_id)

    def elder_for(self, identifier: Identifier) -> UUID | None:
        """The elder an identifier belongs to, from the write side (no projection lag)."""
        return _UnitOfWork(self).elder_of(IdentifierIndex.create_id(identifier))

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
        return self.audit_commit.save(record)

    def elder_events(self, elder_id: UUID) -> list[Any]:
        """Every event in an elder's stream, oldest first (for as-of replay).

        After an erasure, events whose key was destroyed are left out; what remains (clinical
        records still under retention) is what a regulator may see.
        """
        return list(self.readable_events(elder_id))

    def readable(self, stored: Any) -> Any:
        """The domain event of a stored event or notification, or None when the key of its
        personal data was destroyed (an erasure): every reader of the log leaves those out."""
        try:
            return self.mapper.to_domain_event(stored)
        except PersonalDataErased:
            return None

    def readable_events(self, elder_id: UUID, after_version: int = 0,
                        page: int = 500) -> Iterator[Any]:
        """The stream's events after `after_version`, oldest first, read a page at a time and
        leaving out those whose key was destroyed (as `elder_events`)."""
        while True:
            stored_events = self.recorder.select_events(elder_id, gt=after_version or None,
                                                        limit=page)
            for stored in stored_events:
                event = self.readable(stored)
                if event is not None:
                    yield event
            if len(stored_events) < page:
                return
            after_version = stored_events[-1].originator_version

    def request_erasure(self, elder_id: UUID, requested_by: str, legal_basis: str,
                        requested_at: datetime) -> Erasure:
        """Freeze an elder and fix when their clinical records may be destroyed."""
        existing = self._get_or_none(Erasure.create_id(elder_id))
        if existing is not None:
            return existing  # type: ignore[no-any-return]
        visits = []
        birth_year, sex = None, ""
        for event in self.elder_events(elder_id):
            for dated in recorded_facts(event):
                fact = dated.fact
                if isinstance(fact, Demographics):
                    birth_year = fact.birth_date.year if fact.birth_date else birth_year
                    sex = fact.sex.code if fact.sex else sex
                if isinstance(fact, Encounter):
                    when = fact.discharged_at or fact.admitted_at or dated.occurred_at
                    visits.append((fact.patient_class.code if fact.patient_class else "",
                                   when))
        erasure = Erasure(elder_id=elder_id, requested_by=requested_by, legal_basis=legal_basis,
                          requested_at=requested_at,
                          clinical_retained_until=clinical_retention_end(visits, requested_at),
                          birth_year=birth_year, sex=sex)
        self.save(erasure)
        return erasure

    def statistics(self, day: date, zone: tzinfo,
                   recorded_by: datetime | None = None) -> dict[str, Any]:
        """Every regulator indicator as things stood at the end of `day` (by when they
        happened), from everything the hub holds — or, for an audit, only what it had
        recorded by `recorded_by`. A replay of the log, so any date is answered the same way."""
        end = recorded_by or datetime.max.replace(tzinfo=zone)
        state = statistics_fold.initial()
        for notification in self._all_notifications():
            event = self.readable(notification)
            if event is None:
                continue  # destroyed contact data; the residue on the erasure still counts
            if event.timestamp >= end:
                break
            state = statistics_fold.apply(state, event, zone)
        return statistics_fold.indicators(state, day)

    def _all_notifications(self) -> Any:
        start = 0
        while True:
            page = self.recorder.select_notifications(start=start, limit=1000,
                                                      inclusive_of_start=False)
            yield from page
            if len(page) < 1000:
                return
            start = page[-1].id

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
