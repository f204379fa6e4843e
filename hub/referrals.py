"""Two-way referral (双向转诊): the 转诊单 as an aggregate with a state machine, and its desk.

Up (上转): a care home or family doctor sends an elder to a hospital, which accepts (or refuses),
sees the elder arrive and completes the stay. Down (下转/回转): the hospital then sends a linked
return referral carrying the discharge summary back to the care home, which receives it. Every
step is also recorded as a fact on the elder's stream in the same atomic save, so the elder's
timeline shows it with its source. Deadlines come from a `DeadlinePolicy` and an injected clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from hub.clock import Clock
from hub.elder import Elder
from hub.errors import ElderNotFound, HubError
from hub.facts import ClinicalDocument, DatedFact, ReferralRequested
from hub.values import Coding, Source, value_type

log = logging.getLogger(__name__)

REFERRAL_NAMESPACE = uuid5(NAMESPACE_URL, "urn:yyhub:referral")
CHANNEL = "referral"
HUB_ACTOR = "yyhub"

UP, DOWN = "up", "down"
URGENT, ROUTINE = "urgent", "routine"
URGENCIES = (URGENT, ROUTINE)

REQUESTED = "requested"  # 待接收 (up)
SENT = "sent"  # 下转待接收 (down)
ACCEPTED = "accepted"  # 已接收/已预约
REFUSED = "refused"  # 不接收
CANCELLED = "cancelled"
EXPIRED = "expired"
ARRIVED = "arrived"  # 已就诊/已入院
COMPLETED = "completed"
RECEIVED = "received"  # 下转已接收
STATUSES = (REQUESTED, SENT, ACCEPTED, REFUSED, CANCELLED, EXPIRED, ARRIVED, COMPLETED, RECEIVED)
CLOSED = (REFUSED, CANCELLED, EXPIRED, RECEIVED)

# Which step may follow which state, per direction. Anything else is refused with the state.
ALLOWED: dict[tuple[str, str], tuple[str, ...]] = {
    (UP, "accept"): (REQUESTED,),
    (UP, "refuse"): (REQUESTED,),
    (UP, "cancel"): (REQUESTED, ACCEPTED),
    (UP, "expire"): (REQUESTED,),
    (UP, "arrive"): (ACCEPTED,),
    (UP, "complete"): (ARRIVED,),
    (UP, "return"): (COMPLETED,),
    (UP, "follow-up"): (COMPLETED,),
    (DOWN, "receive"): (SENT,),
    (DOWN, "cancel"): (SENT,),
}

# Steps the sender takes; the destination takes all the others.
SENDER_STEPS = ("cancel", "follow-up")

# Deadlines: the step that is awaited in a state, and who is waited on ("to" or "from").
DEADLINE_KINDS = {REQUESTED: "accept", SENT: "receive", COMPLETED: "follow-up"}

STEP_LABELS = {
    REQUESTED: "申请", SENT: "下转", ACCEPTED: "已接收", REFUSED: "不接收", CANCELLED: "已取消",
    EXPIRED: "已过期", ARRIVED: "已到院", COMPLETED: "诊疗结束", RECEIVED: "下转已接收",
    "returned": "已回转", "followed-up": "已随访",
}


class ReferralNotFound(HubError):
    """Raised when a referral id names no referral."""


class InvalidTransition(HubError):
    """Raised when a step is not allowed from the referral's current state."""

    def __init__(self, action: str, status: str, referral_id: UUID):
        super().__init__(f"cannot {action} a referral that is {status}")
        self.action = action
        self.status = status
        self.referral_id = referral_id


class NotAParty(HubError):
    """Raised when an organisation takes a step that belongs to another party of the referral."""


class DuplicateReferral(HubError):
    """Raised when a sender reuses a referral number (the natural key collides in the store)."""

    def __init__(self, referral_id: UUID):
        super().__init__(f"referral {referral_id} already exists")
        self.referral_id = referral_id


class InvalidReferral(HubError):
    """Raised when a referral form breaks a rule (unknown urgency, an elder sent to its sender)."""


class ConcurrentChange(HubError):
    """Raised when the streams a command writes kept changing until its attempts ran out."""


@value_type
@dataclass(frozen=True)
class ReferralProgress(ReferralRequested):
    """One step of a referral as a fact on the elder's timeline; the latest is its current state."""

    step: str = REQUESTED
    direction: str = UP
    parent_referral_id: str = ""
    detail: str = ""

    def summary(self) -> str:
        label = STEP_LABELS.get(self.step, self.step)
        arrow = "↓" if self.direction == DOWN else "↑"
        text = self.detail or self.reason
        route = f"{self.from_organisation} → {self.to_organisation}"
        return f"转诊{arrow}{label}: {route} {text}".strip()


@dataclass(frozen=True)
class DeadlinePolicy:
    """How long each party has: accept in 2 h urgent / 24 h routine, follow up within 14 days."""

    accept_within: Mapping[str, timedelta] = field(default_factory=lambda: {
        URGENT: timedelta(hours=2), ROUTINE: timedelta(hours=24)})
    expire_after: Mapping[str, timedelta] = field(default_factory=lambda: {
        URGENT: timedelta(hours=12), ROUTINE: timedelta(days=3)})
    receive_within: timedelta = timedelta(hours=24)
    follow_up_within: timedelta = timedelta(days=14)


class Referral(Aggregate):
    """A 转诊单: who sends whom where, why, and how far it has got."""

    @staticmethod
    def create_id(from_organisation: str, number: str) -> UUID:
        """Sender plus 转诊单号: a resent referral collides with the first in the store."""
        return uuid5(REFERRAL_NAMESPACE, f"{from_organisation}|{number}")

    @event("Requested")
    def __init__(self, *, elder_id: UUID, from_organisation: str, number: str, direction: str,
                 to_organisation: str, urgency: str, reason: str, diagnosis: str,
                 department: str, tests_done: tuple[str, ...], requesting_doctor: str,
                 notes: str, packet: dict[str, Any], parent_id: UUID | None,
                 discharge_summary: str, treatment_result: str, rehabilitation_advice: str,
                 medications: tuple[str, ...], requested_at: datetime, due_at: datetime,
                 expires_at: datetime | None):
        self.elder_id = elder_id
        self.from_organisation = from_organisation
        self.number = number
        self.direction = direction
        self.to_organisation = to_organisation
        self.urgency = urgency
        self.reason = reason
        self.status = REQUESTED if direction == UP else SENT
        self.parent_id = parent_id
        self.return_id: UUID | None = None
        self.due_at: datetime | None = due_at
        self.expires_at = expires_at
        self.overdue: tuple[str, ...] = ()
        self.followed_up = False

    # --- rules -------------------------------------------------------------------------------

    def check_step(self, action: str) -> None:
        """A step must be allowed from the current state in this direction."""
        if self.status not in ALLOWED.get((self.direction, action), ()):
            raise InvalidTransition(action, self.status, self.id)

    def check_receiver(self, organisation: str) -> None:
        """Only the destination acts on the receiving side (any organisation, if none was named)."""
        if self.to_organisation and organisation != self.to_organisation:
            raise NotAParty(f"{organisation} is not the destination of this referral "
                            f"({self.to_organisation})")
        if organisation == self.from_organisation:
            raise NotAParty("the sender cannot act as the receiver of its own referral")

    def check_sender(self, organisation: str) -> None:
        """Only the sender cancels or follows up its referral."""
        if organisation != self.from_organisation:
            raise NotAParty(f"{organisation} did not send this referral "
                            f"({self.from_organisation})")

    @property
    def awaited(self) -> str:
        """The step the open deadline waits for ("" when none is open)."""
        if self.status == COMPLETED and self.followed_up:
            return ""
        return DEADLINE_KINDS.get(self.status, "")

    # --- steps -------------------------------------------------------------------------------

    @event("Accepted")
    def accept(self, by_organisation: str, receiving_doctor: str, appointment: str, bed: str,
               note: str, at: datetime) -> None:
        self.status = ACCEPTED
        self.to_organisation = by_organisation
        self.due_at = None

    @event("Refused")
    def refuse(self, by_organisation: str, reason: str, at: datetime) -> None:
        self.status = REFUSED
        self.due_at = None

    @event("Cancelled")
    def cancel(self, by_organisation: str, reason: str, at: datetime) -> None:
        self.status = CANCELLED
        self.due_at = None

    @event("Expired")
    def expire(self, at: datetime) -> None:
        self.status = EXPIRED
        self.due_at = None

    @event("Overdue")
    def mark_overdue(self, awaited: str, due_at: datetime, at: datetime) -> None:
        """Not a step: a note that the party awaited is late; the step stays open."""
        self.overdue = (*self.overdue, awaited)

    @event("Arrived")
    def arrive(self, by_organisation: str, visit_number: str, at: datetime) -> None:
        self.status = ARRIVED

    @event("Completed")
    def complete(self, by_organisation: str, treatment_result: str, at: datetime,
                 follow_up_due_at: datetime) -> None:
        self.status = COMPLETED
        self.due_at = follow_up_due_at

    @event("ReturnSent")
    def note_return(self, return_id: UUID, at: datetime) -> None:
        self.return_id = return_id

    @event("FollowedUp")
    def follow_up(self, by_organisation: str, note: str, at: datetime) -> None:
        self.followed_up = True
        self.due_at = None

    @event("Received")
    def receive(self, by_organisation: str, note: str, at: datetime) -> None:
        self.status = RECEIVED
        self.due_at = None


@dataclass(frozen=True)
class ReferralForm:
    """What the sender writes on the 转诊单."""

    number: str
    reason: str
    urgency: str = ROUTINE
    to_organisation: str = ""
    diagnosis: str = ""
    department: str = ""
    tests_done: tuple[str, ...] = ()
    requesting_doctor: str = ""
    notes: str = ""


@dataclass(frozen=True)
class ReturnForm:
    """What the hospital sends back down with the elder (回转单)."""

    discharge_summary: str
    treatment_result: str = ""
    rehabilitation_advice: str = ""
    medications: tuple[str, ...] = ()
    number: str = ""
    attending_doctor: str = ""


@dataclass(frozen=True)
class StepResult:
    """What a command did: the referral, its state now, and the log position of the save."""

    referral_id: UUID
    status: str
    position: int


# Profile sections a handover packet carries, current item per key, when the profile has them.
PACKET_SECTIONS = ("diagnoses", "medications", "allergies", "observations", "contacts",
                   "encounters", "procedures", "assessments", "abilities", "care_levels")
PACKET_CURRENT = ("latest_assessment", "care_level", "current_care_home")


def handover_packet(profile: Mapping[str, Any], taken_at: datetime) -> dict[str, Any]:
    """A snapshot of what the receiving team needs to know, from the elder's profile document.

    Problems are the current diagnoses; vital signs the latest observation per code; active
    medications only. Sections the profile does not have yet are left out.
    """
    packet: dict[str, Any] = {
        "taken_at": taken_at.isoformat(),
        "elder_id": profile.get("elder_id", ""),
        "demographics": dict(profile.get("demographics", {})),
        "identifiers": list(profile.get("identifiers", [])),
    }
    for section in PACKET_SECTIONS:
        items = list(profile.get(section) or [])
        if section == "medications":
            items = [m for m in items if m.get("status", "active") in ("active", "")]
        if section == "diagnoses":
            packet["problems"] = items
            continue
        if section == "observations":
            vitals = [o for o in items if o.get("category") == "vital-signs"]
            packet["vital_signs"] = vitals or items
            continue
        if items or section in ("medications", "allergies", "contacts"):
            packet[section] = items
    packet.setdefault("problems", [])
    packet.setdefault("vital_signs", [])
    # Ability level and where the elder lives: the profile keeps these as current items.
    for current in PACKET_CURRENT:
        if profile.get(current):
            packet[current] = profile[current]
    return packet


CONFLICT_ATTEMPTS = 5


class ReferralDesk:
    """Runs referral commands: get, check, step, record on the elder, save all in one save.

    A save that loses a race (another writer got there first on the referral or the elder) is
    re-run against the fresh state, so its rules are checked again: the loser of two accepts is
    refused with the state the winner left, never written over it.
    """

    def __init__(self, app: Application[UUID], clock: Clock,
                 policy: DeadlinePolicy | None = None):
        self.app = app
        self.clock = clock
        self.policy = policy or DeadlinePolicy()

    # --- commands ----------------------------------------------------------------------------

    def request(self, elder_id: UUID, from_organisation: str, form: ReferralForm,
                packet: dict[str, Any]) -> StepResult:
        """Send an elder up; the form's number under the sender names the referral for good."""
        if form.urgency not in URGENCIES:
            raise InvalidReferral(f"urgency must be one of {', '.join(URGENCIES)}")
        if not form.number.strip() or not form.reason.strip():
            raise InvalidReferral("a referral needs its number and a reason")
        if form.to_organisation == from_organisation:
            raise InvalidReferral("an organisation cannot refer an elder to itself")

        def run(now: datetime) -> tuple[Referral, list[Aggregate]]:
            referral_id = Referral.create_id(from_organisation, form.number)
            if self._get_or_none(referral_id) is not None:
                raise DuplicateReferral(referral_id)
            elder = self._elder(elder_id)
            referral = Referral(
                elder_id=elder_id, from_organisation=from_organisation, number=form.number,
                direction=UP, to_organisation=form.to_organisation, urgency=form.urgency,
                reason=form.reason, diagnosis=form.diagnosis, department=form.department,
                tests_done=tuple(form.tests_done), requesting_doctor=form.requesting_doctor,
                notes=form.notes, packet=packet, parent_id=None, discharge_summary="",
                treatment_result="", rehabilitation_advice="", medications=(),
                requested_at=now, due_at=now + self.policy.accept_within[form.urgency],
                expires_at=now + self.policy.expire_after[form.urgency])
            self._record(elder, referral, REQUESTED, from_organisation, now)
            return referral, [referral, elder]

        return self._run(run)

    def accept(self, referral_id: UUID, by: str, receiving_doctor: str = "",
               appointment: str = "", bed: str = "", note: str = "") -> StepResult:
        """The hospital takes the elder (with a 号源 or a bed)."""
        def step(r: Referral, now: datetime) -> str:
            r.accept(by_organisation=by, receiving_doctor=receiving_doctor,
                     appointment=appointment, bed=bed, note=note, at=now)
            return " ".join(p for p in (receiving_doctor, appointment, bed) if p)
        return self._step(referral_id, by, "accept", step)

    def refuse(self, referral_id: UUID, by: str, reason: str) -> StepResult:
        """The destination declines, saying why (不接收原因)."""
        def step(r: Referral, now: datetime) -> str:
            r.refuse(by_organisation=by, reason=reason, at=now)
            return reason
        return self._step(referral_id, by, "refuse", step)

    def cancel(self, referral_id: UUID, by: str, reason: str = "") -> StepResult:
        """The sender withdraws the referral before the elder arrives."""
        def step(r: Referral, now: datetime) -> str:
            r.cancel(by_organisation=by, reason=reason, at=now)
            return reason
        return self._step(referral_id, by, "cancel", step)

    def arrive(self, referral_id: UUID, by: str, visit_number: str = "") -> StepResult:
        """The elder reached the hospital (已就诊/已入院)."""
        def step(r: Referral, now: datetime) -> str:
            r.arrive(by_organisation=by, visit_number=visit_number, at=now)
            return visit_number
        return self._step(referral_id, by, "arrive", step)

    def complete(self, referral_id: UUID, by: str, treatment_result: str = "") -> StepResult:
        """The hospital has finished; the sender's follow-up deadline starts."""
        def step(r: Referral, now: datetime) -> str:
            r.complete(by_organisation=by, treatment_result=treatment_result, at=now,
                       follow_up_due_at=now + self.policy.follow_up_within)
            return treatment_result
        return self._step(referral_id, by, "complete", step)

    def follow_up(self, referral_id: UUID, by: str, note: str) -> StepResult:
        """The sender records how the referral turned out (随访)."""
        def step(r: Referral, now: datetime) -> str:
            if r.followed_up:
                raise InvalidTransition("follow-up", "followed-up", r.id)
            r.follow_up(by_organisation=by, note=note, at=now)
            return note
        return self._step(referral_id, by, "follow-up", step, label="followed-up")

    def send_return(self, referral_id: UUID, by: str, form: ReturnForm) -> StepResult:
        """Send the elder back down with the discharge summary; answers with the return referral."""
        if not form.discharge_summary.strip():
            raise InvalidReferral("a return referral carries the discharge summary (出院小结)")

        def run(now: datetime) -> tuple[Referral, list[Aggregate]]:
            parent = self._referral(referral_id)
            parent.check_step("return")
            parent.check_receiver(by)
            if parent.return_id is not None:
                raise InvalidTransition("return", "returned", parent.id)
            number = form.number or f"{parent.number}-R"
            down = Referral(
                elder_id=parent.elder_id, from_organisation=by, number=number, direction=DOWN,
                to_organisation=parent.from_organisation, urgency=ROUTINE,
                reason=form.treatment_result or "下转/回转", diagnosis="", department="",
                tests_done=(), requesting_doctor=form.attending_doctor, notes="",
                packet={}, parent_id=parent.id, discharge_summary=form.discharge_summary,
                treatment_result=form.treatment_result,
                rehabilitation_advice=form.rehabilitation_advice,
                medications=tuple(form.medications), requested_at=now,
                due_at=now + self.policy.receive_within, expires_at=None)
            if self._get_or_none(down.id) is not None:
                raise DuplicateReferral(down.id)
            parent.note_return(return_id=down.id, at=now)
            elder = self._elder(parent.elder_id)
            self._record(elder, down, SENT, by, now, detail=form.treatment_result)
            summary = ClinicalDocument(
                document_id=f"referral:{down.id}",
                document_type=Coding("urn:yyhub:document-type", "discharge-summary",
                                     "出院小结"),
                title="出院小结", text=form.discharge_summary,
                author=form.attending_doctor or by)
            elder.record_facts(facts=(DatedFact(summary, now),),
                               source=Source(by, CHANNEL, down.id))
            return down, [parent, down, elder]

        return self._run(run)

    def receive(self, referral_id: UUID, by: str, note: str = "") -> StepResult:
        """The care home or community has the elder back and has read the return."""
        def step(r: Referral, now: datetime) -> str:
            r.receive(by_organisation=by, note=note, at=now)
            return note
        return self._step(referral_id, by, "receive", step)

    def enforce_deadlines(self, referral_id: UUID) -> str:
        """Expire or mark overdue what the clock says is late; answers what it did ("" if nothing).

        Decided on the aggregate, not on the worklist, so a stale worklist never expires a
        referral that was accepted meanwhile.
        """
        outcome = ""

        def run(now: datetime) -> tuple[Referral, list[Aggregate]]:
            nonlocal outcome
            r = self._referral(referral_id)
            awaited = r.awaited
            if r.status == REQUESTED and r.expires_at is not None and now >= r.expires_at:
                r.expire(at=now)
                elder = self._elder(r.elder_id)
                self._record(elder, r, EXPIRED, HUB_ACTOR, now)
                outcome = EXPIRED
                return r, [r, elder]
            if awaited and r.due_at is not None and now >= r.due_at and awaited not in r.overdue:
                r.mark_overdue(awaited=awaited, due_at=r.due_at, at=now)
                outcome = "overdue"
                return r, [r]
            outcome = ""
            return r, []

        self._run(run)
        return outcome

    # --- plumbing ----------------------------------------------------------------------------

    def _step(self, referral_id: UUID, by: str, action: str,
              step: Callable[[Referral, datetime], str], label: str = "") -> StepResult:
        """Check the step is allowed now and is `by`'s to take, take it, record it, save."""
        def run(now: datetime) -> tuple[Referral, list[Aggregate]]:
            referral = self._referral(referral_id)
            referral.check_step(action)
            if action in SENDER_STEPS:
                referral.check_sender(by)
            else:
                referral.check_receiver(by)
            detail = step(referral, now)
            elder = self._elder(referral.elder_id)
            self._record(elder, referral, label or referral.status, by, now, detail=detail)
            return referral, [referral, elder]
        return self._run(run)

    def _run(self, run: Callable[[datetime], tuple[Referral, list[Aggregate]]]) -> StepResult:
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            referral, changed = run(self.clock.now())
            if not changed:
                return StepResult(referral.id, referral.status, 0)
            try:
                recordings = self.app.save(*changed)
            except IntegrityError:
                log.info("referral %s changed while saving; checking again (%d)",
                         referral.id, attempt)
                continue
            return StepResult(referral.id, referral.status, recordings[-1].notification.id)
        raise ConcurrentChange("the referral kept changing; try again")

    @staticmethod
    def _record(elder: Elder, referral: Referral, step: str, actor: str, now: datetime,
                detail: str = "") -> None:
        """The step on the elder's timeline, its source being the party that took it."""
        fact = ReferralProgress(
            referral_id=str(referral.id), reason=referral.reason, urgency=referral.urgency,
            from_organisation=referral.from_organisation,
            to_organisation=referral.to_organisation, status=referral.status, step=step,
            direction=referral.direction,
            parent_referral_id=str(referral.parent_id) if referral.parent_id else "",
            detail=detail)
        elder.record_facts(facts=(DatedFact(fact, now),),
                           source=Source(actor, CHANNEL, referral.id))

    def _referral(self, referral_id: UUID) -> Referral:
        found = self._get_or_none(referral_id)
        if not isinstance(found, Referral):
            raise ReferralNotFound(f"no referral {referral_id}")
        return found

    def _elder(self, elder_id: UUID) -> Elder:
        found = self._get_or_none(elder_id)
        if not isinstance(found, Elder):
            raise ElderNotFound(f"no elder {elder_id}")
        return found

    def _get_or_none(self, aggregate_id: UUID) -> Any:
        try:
            return self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

