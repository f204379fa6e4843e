"""REF^I12 → a `ReferralRequested` fact (the referral issue turns these into workflow).

RF1 says what is asked (status, urgency, type, reason, the originating referral id); PRD names
the referring (RP) and referred-to (RT) providers; the rest (PID, DG1, AL1, PR1, OBX ...) is
read as in any message.
"""

from __future__ import annotations

from datetime import tzinfo

from hub.application import MappedMessage
from hub.facts import DatedFact, ReferralRequested
from hub.values import Problem
from mappings.errors import MappingError
from mappings.hl7v2.adt import (
    begin,
    finish,
    subject_of,
    visit_facts,
)
from mappings.hl7v2.er7 import Er7Message, Segment
from mappings.hl7v2.results import observations

URGENCY = {"S": "stat", "A": "asap", "R": "routine", "P": "routine", "T": "urgent"}  # table 0280


def _provider(message: Er7Message, role: str) -> str:
    """A PRD's facility or organisation name (PRD-4), else the provider's name (PRD-2)."""
    prd: Segment | None = next((s for s in message.all("PRD")
                                if message.get(s, 1).upper() == role), None)
    if prd is None:
        return ""
    g = message.get
    facility = g(prd, 4, 10) or g(prd, 4, 4) or g(prd, 4, 1)
    person = " ".join(p for p in (g(prd, 2, 2), g(prd, 2, 1)) if p)
    return facility or person


def mapped_message_from_ref(message: Er7Message, local_zone: tzinfo) -> MappedMessage:
    """A referral request about one elder, at its effective date (RF1-7) or the message time."""
    reader, organisation, pid, occurred_at = begin(message, local_zone)
    rf1 = message.first("RF1")
    if rf1 is None:
        raise MappingError(Problem("segment-missing", "REF message has no RF1 segment", "RF1"))
    g = message.get
    dg1 = message.first("DG1")
    reason = (g(rf1, 10, 2) or g(rf1, 10, 1) or (g(dg1, 3, 2) or g(dg1, 4) if dg1 else ""))
    referral = ReferralRequested(
        referral_id=g(rf1, 6, 1) or g(rf1, 11, 1) or g(message.first("MSH"), 10),
        reason=reason,
        urgency=URGENCY.get(g(rf1, 2, 1).upper(), g(rf1, 2, 2) or g(rf1, 2, 1)),
        from_organisation=_provider(message, "RP") or organisation,
        to_organisation=_provider(message, "RT") or g(message.first("MSH"), 6, 1),
        specialty=g(rf1, 3, 2) or g(rf1, 3, 1),
        status="requested",
    )
    facts = visit_facts(message, reader, "", occurred_at) + observations(message, reader)
    facts.append(DatedFact(referral, reader.timestamp(rf1, 7) or occurred_at))
    subject, warnings = subject_of(message, pid, organisation, reader, facts, occurred_at)
    return finish(reader, organisation, [subject], warnings)
