"""REF^I12 (patient referral) → a referral request: the 转诊单 from RF1, PRD and DG1; the patient
from PID (with NK1, AL1, DG1 as facts, read by the ADT mapping).

`referral_from_ref_i12` is pure and raises `MappingError` naming the segment and field at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from hub.application import MappedMessage
from hub.referrals import ROUTINE, URGENT, ReferralForm
from hub.values import Problem
from mappings.errors import MappingError
from mappings.hl7v2 import adt
from mappings.hl7v2.er7 import Er7Message, Segment

# HL7 table 0280 referral priority: S STAT, A ASAP, R routine.
URGENCY = {"S": URGENT, "A": URGENT, "R": ROUTINE, "": ROUTINE}
# Our states in HL7 table 0283 referral status: A accepted, E expired, P pending, R rejected.
STATUS_0283 = {"requested": "P", "accepted": "A", "arrived": "A", "completed": "A",
               "refused": "R", "cancelled": "R", "expired": "E"}


@dataclass(frozen=True)
class ReferralMessage:
    """What a REF^I12 says: the patient, the referral form and whether the sender wants an RRI."""

    patient: MappedMessage
    form: ReferralForm
    wants_response: bool


def _text(message: Er7Message, segment: Segment, field: int) -> str:
    """A CE/CWE as people read it: its text, else its code."""
    return (message.get(segment, field, 2) or message.get(segment, field, 1)).strip()


def referral_from_ref_i12(message: Er7Message, local_zone: tzinfo) -> ReferralMessage:
    """A REF^I12 as the patient's facts and a referral form; RF1-6 is the referral number."""
    rf1 = message.first("RF1")
    if rf1 is None:
        raise MappingError(Problem("segment-missing", "REF^I12 has no RF1 segment", "RF1"))
    number = message.get(rf1, 6, 1) or message.get(rf1, 11, 1)
    if not number:
        raise MappingError(Problem("required-field-missing",
                                   "RF1-6 originating referral identifier (转诊单号) is empty",
                                   "RF1[1]-6"))
    priority = message.get(rf1, 2, 1).upper()
    if priority not in URGENCY:
        raise MappingError(Problem("table-value-not-found",
                                   f"RF1-2 priority {priority!r} is not in HL7 table 0280",
                                   "RF1[1]-2"))
    patient = adt.mapped_message_from_adt(message, local_zone)
    providers = {message.get(prd, 1, 1).upper(): prd for prd in message.all("PRD")}
    to_prd, from_prd = providers.get("RT"), providers.get("RP")
    to_organisation = ""
    if to_prd is not None:
        to_organisation = (message.get(to_prd, 7, 1) or message.get(to_prd, 4, 4)
                           or message.get(to_prd, 4, 1))
    diagnoses = [d for d in (_text(message, dg1, 3) or message.get(dg1, 4)
                             for dg1 in message.all("DG1")) if d]
    form = ReferralForm(
        number=number,
        reason=_text(message, rf1, 10) or "REF^I12",
        urgency=URGENCY[priority],
        to_organisation=to_organisation,
        diagnosis="; ".join(diagnoses),
        department=_text(message, rf1, 3),
        requesting_doctor=(message.get(from_prd, 2, 1) + message.get(from_prd, 2, 2)
                           if from_prd is not None else ""),
    )
    msh = message.first("MSH")
    wants = message.get(msh, 16, 1).upper() in ("AL", "SU")
    return ReferralMessage(patient, form, wants)
