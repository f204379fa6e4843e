"""ADT messages → the hub's facts: PID, PV1, NK1, AL1 and DG1 with provenance times.

`mapped_message_from_adt` is pure: it reads an `Er7Message` and returns a `MappedMessage`, or
raises `MappingError` naming the segment, field and reason for each problem.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, tzinfo

from hub.application import MappedMessage, MergeRequest, SubjectRecord
from hub.facts import Allergy, Contact, DatedFact, Demographics, Diagnosis, Encounter, Fact, Procedure
from hub.values import Coding, Identifier, Problem
from mappings import codes, identifiers
from mappings.errors import MappingError
from mappings.hl7v2 import datatypes, tables
from mappings.hl7v2.er7 import Er7Message, Segment

# Trigger events this mapping understands → what they mean for the visit ("" = no visit fact).
ENCOUNTER_EVENTS = {
    "A01": "admitted", "A02": "transferred", "A03": "discharged", "A04": "registered",
    "A05": "pre-admitted", "A06": "changed-to-inpatient", "A07": "changed-to-outpatient",
    "A08": "updated", "A11": "admission-cancelled", "A12": "transfer-cancelled",
    "A13": "discharge-cancelled", "A28": "", "A31": "", "A40": "",
}
# Triggers that fix the visit's status whatever PV1 says.
ENCOUNTER_STATUS = {
    "A01": "in-progress", "A02": "in-progress", "A03": "finished", "A04": "in-progress",
    "A05": "planned", "A06": "in-progress", "A07": "in-progress", "A11": "cancelled",
    "A12": "in-progress", "A13": "in-progress",
}
# Person-level triggers: the message is about the person, not a visit.
PERSON_TRIGGERS = {"A28", "A31", "A40"}

def location(segment: Segment, message: Er7Message, field: int, component: int = 0) -> str:
    """`PID[1]-3.1`: segment, its occurrence, field and component."""
    occurrence = [s for s in message.segments if s.id == segment.id].index(segment) + 1
    where = f"{segment.id}[{occurrence}]-{field}"
    return f"{where}.{component}" if component else where


def message_type(message: Er7Message) -> tuple[str, str]:
    msh = message.first("MSH")
    return message.get(msh, 9, 1).upper(), message.get(msh, 9, 2).upper()


def sending_organisation(message: Er7Message) -> str:
    """MSH-4 sending facility (its namespace id), or MSH-3 when the facility is empty."""
    msh = message.first("MSH")
    return message.get(msh, 4, 1) or message.get(msh, 4, 2) or message.get(msh, 3, 1)


class _Reader:
    """Collects problems while reading so one answer can name every bad field."""

    def __init__(self, message: Er7Message, local_zone: tzinfo):
        self.message = message
        self.zone = local_zone
        self.problems: list[Problem] = []
        self.fallback: datetime = datetime.now(local_zone)  # the message's own time, once read

    def timestamp(self, segment: Segment | None, field: int, component: int = 1
                  ) -> datetime | None:
        if segment is None:
            return None
        try:
            return datatypes.timestamp(self.message.get(segment, field, component), self.zone)
        except datatypes.BadValue as error:
            self.problems.append(Problem("bad-data-type", str(error),
                                         location(segment, self.message, field)))
            return None

    def day(self, segment: Segment, field: int):  # type: ignore[no-untyped-def]
        try:
            return datatypes.day(self.message.get(segment, field))
        except datatypes.BadValue as error:
            self.problems.append(Problem("bad-data-type", str(error),
                                         location(segment, self.message, field)))
            return None


def event_time(message: Er7Message, reader: _Reader) -> datetime:
    """EVN-6 (when it happened), else EVN-2 (when recorded), else MSH-7."""
    evn = message.first("EVN")
    for seg, field in ((evn, 6), (evn, 2), (message.first("MSH"), 7)):
        when = reader.timestamp(seg, field)
        if when is not None:
            return when
    msh = message.first("MSH")
    assert msh is not None
    reader.problems.append(Problem("required-field-missing", "message has no date/time",
                                   location(msh, message, 7)))
    return datetime.now(reader.zone)


def patient_identifiers(message: Er7Message, pid: Segment, organisation: str
                        ) -> tuple[Identifier, ...]:
    found: list[Identifier] = []
    for field in (3, 2, 4):  # PID-3 list, then the older external/alternate id fields
        for rep in message.repetitions(pid, field):
            value = message.part(rep, 1)
            if not value:
                continue
            authority = message.part(rep, 4, 1) or message.part(rep, 4, 2)
            found.append(identifiers.from_cx(value, message.part(rep, 5), authority, organisation))
    ssn = message.get(pid, 19)
    if ssn:
        found.append(identifiers.from_cx(ssn, "SS", "", organisation))
    return tuple(dict.fromkeys(found))


def demographics(message: Er7Message, pid: Segment, reader: _Reader) -> Demographics:
    g = message.get
    name = next((rep for rep in message.repetitions(pid, 5) if message.part(rep, 1)), "")
    family, given, middle = (message.part(name, i) for i in (1, 2, 3))
    phone = g(pid, 13, 1) or g(pid, 13, 12) or (g(pid, 13, 6) + g(pid, 13, 7))
    return Demographics(
        name=datatypes.person_name(family, given, middle),
        family=family, given=" ".join(p for p in (given, middle) if p),
        sex=codes.sex(g(pid, 8)),
        birth_date=reader.day(pid, 7),
        ethnicity=codes.ethnicity(g(pid, 22, 1), g(pid, 22, 2)),
        marital_status=_coding(message, pid, 16, tables.MARITAL_SYSTEM),
        address=datatypes.address(g(pid, 11, 1), g(pid, 11, 2), g(pid, 11, 3), g(pid, 11, 4),
                                  g(pid, 11, 5), g(pid, 11, 6), g(pid, 11, 9)),
        phone=phone,
        deceased_at=reader.timestamp(pid, 29),
    )


def _coding(message: Er7Message, segment: Segment, field: int, default_system: str = ""
            ) -> Coding | None:
    code, text, system = (message.get(segment, field, i) for i in (1, 2, 3))
    if not code and not text:
        return None
    return Coding(tables.coding_system(system) if system else default_system, code, text)


def _coded_or_described(message: Er7Message, segment: Segment, reader: _Reader,
                        what: str) -> Coding | None:
    """Field 3 as a coding, else field 4 as text (DG1 and PR1 share this layout)."""
    coding = _coding(message, segment, 3)
    if coding is None and message.get(segment, 4):
        coding = Coding("", "", message.get(segment, 4))
    if coding is None:
        reader.problems.append(Problem("required-field-missing", f"{what} has no code",
                                       location(segment, message, 3)))
    return coding


def contacts(message: Er7Message) -> list[Contact]:
    g = message.get
    return [Contact(
        name=datatypes.person_name(g(nk1, 2, 1), g(nk1, 2, 2)),
        relationship=_coding(message, nk1, 3, tables.RELATIONSHIP_SYSTEM),
        phone=g(nk1, 5, 1) or g(nk1, 5, 12),
        address=datatypes.address(g(nk1, 4, 1), g(nk1, 4, 2), g(nk1, 4, 3), g(nk1, 4, 4),
                                  g(nk1, 4, 5), g(nk1, 4, 6), g(nk1, 4, 9)),
    ) for nk1 in message.all("NK1") if g(nk1, 2, 1) or g(nk1, 2, 2)]


def allergies(message: Er7Message, reader: _Reader) -> list[Allergy]:
    found = []
    for al1 in message.all("AL1"):
        allergen = _coding(message, al1, 3)
        if allergen is None:
            reader.problems.append(Problem("required-field-missing", "allergy has no allergen",
                                           location(al1, message, 3)))
            continue
        found.append(Allergy(
            allergen=allergen,
            category=tables.ALLERGEN_TYPE.get(message.get(al1, 2).upper(), ""),
            severity=tables.ALLERGY_SEVERITY.get(message.get(al1, 4).upper(), ""),
            reactions=tuple(message.part(r) for r in message.repetitions(al1, 5)
                            if message.part(r)),
            identified_on=reader.day(al1, 6),
        ))
    return found


def diagnoses(message: Er7Message, reader: _Reader, visit_number: str) -> list[Diagnosis]:
    found = []
    for dg1 in message.all("DG1"):
        condition = _coded_or_described(message, dg1, reader, "diagnosis")
        if condition is None:
            continue
        found.append(Diagnosis(
            condition=condition,
            diagnosis_type=message.get(dg1, 6),
            diagnosed_at=reader.timestamp(dg1, 5),
            visit_number=visit_number,
            code_system_version=message.get(dg1, 3, 7),
        ))
    return found


def encounter(message: Er7Message, pv1: Segment, trigger: str, reader: _Reader) -> Encounter:
    """PV1 as a visit; the trigger says what happened to it (cancellations keep the visit)."""
    g = message.get
    point, room, bed, facility = (g(pv1, 3, i) for i in (1, 2, 3, 4))
    admitted_at = reader.timestamp(pv1, 44)
    discharged_at = reader.timestamp(pv1, 45) if trigger != "A13" else None
    status = ENCOUNTER_STATUS.get(trigger)
    if status is None:
        status = ("finished" if discharged_at else
                  "planned" if g(pv1, 2).upper() == "P" else "in-progress")
    pv2 = message.first("PV2")
    if status == "planned" and pv2 is not None:
        # a planned visit's period is the expected admission and discharge (PV2-8, PV2-9)
        admitted_at = admitted_at or reader.timestamp(pv2, 8)
        discharged_at = discharged_at or reader.timestamp(pv2, 9)
    return Encounter(
        visit_number=g(pv1, 19, 1),
        event=ENCOUNTER_EVENTS.get(trigger, trigger),
        patient_class=tables.patient_class(g(pv1, 2)),
        status=status,
        location=" ".join(p for p in (facility, point, room, bed) if p),
        attending_doctor=datatypes.person_name(g(pv1, 7, 2), g(pv1, 7, 3)) or g(pv1, 7, 1),
        hospital_service=g(pv1, 10),
        admitted_at=admitted_at,
        discharged_at=discharged_at,
    )


def procedures(message: Er7Message, reader: _Reader) -> list[DatedFact]:
    """PR1 segments as procedures, each at its own procedure time (PR1-5) when given."""
    found = []
    for pr1 in message.all("PR1"):
        performed = _coded_or_described(message, pr1, reader, "procedure")
        if performed is None:
            continue
        surgeon = message.get(pr1, 11)
        found.append(DatedFact(Procedure(
            procedure=performed,
            record_id=message.get(pr1, 19, 1) or f"{message.get(pr1, 3)}|{message.get(pr1, 5)}",
            performer=datatypes.person_name(message.get(pr1, 11, 2), message.get(pr1, 11, 3))
            or surgeon,
        ), reader.timestamp(pr1, 5) or reader.fallback))
    return found


def patient_segment(message: Er7Message) -> Segment:
    pid = message.first("PID")
    if pid is None:
        raise MappingError(Problem("segment-missing", "message has no PID segment", "PID"))
    return pid


def subject_of(message: Er7Message, pid: Segment, organisation: str, reader: _Reader,
               facts: list[DatedFact], occurred_at: datetime
               ) -> tuple[SubjectRecord, list[Problem]]:
    """The person a PID names and the facts stated about them, or a MappingError."""
    ids = patient_identifiers(message, pid, organisation)
    if not ids:
        raise MappingError(Problem("required-field-missing",
                                   "PID-3 holds no patient identifier", location(pid, message, 3)))
    if not any(i.linkable for i in ids):
        raise MappingError(Problem("no-linkable-identifier",
                                   "no identifier in PID-3 can identify the patient",
                                   location(pid, message, 3)))
    warnings = [Problem("identifier-invalid",
                        f"身份证号 {i.value} fails GB 11643 validation; kept but not used to link",
                        location(pid, message, 3), severity="warning")
                for i in ids if not i.linkable]
    return SubjectRecord(ids, tuple(facts), occurred_at), warnings


def finish(reader: _Reader, organisation: str, subjects: list[SubjectRecord],
           warnings: list[Problem]) -> MappedMessage:
    """Raise every error found while reading; otherwise the mapped message with its warnings."""
    errors = tuple(p for p in reader.problems if p.is_error)
    if errors:
        raise MappingError(errors)
    warnings = warnings + [p for p in reader.problems if not p.is_error]
    return MappedMessage(organisation, tuple(subjects), tuple(warnings))


def visit_facts(message: Er7Message, reader: _Reader, trigger: str, occurred_at: datetime
                ) -> list[DatedFact]:
    """What any message may say about the person and the visit: PID, NK1, AL1, DG1, PV1, PR1."""
    pid = patient_segment(message)
    facts: list[Fact] = [demographics(message, pid, reader)]
    facts += contacts(message)
    facts += allergies(message, reader)
    pv1 = message.first("PV1")
    visit_number = message.get(pv1, 19, 1) if pv1 else ""
    facts += diagnoses(message, reader, visit_number)
    if (pv1 is not None and trigger not in PERSON_TRIGGERS
            and (visit_number or message.get(pv1, 2))):
        facts.append(encounter(message, pv1, trigger, reader))
    return [DatedFact(fact, occurred_at) for fact in facts] + procedures(message, reader)


def begin(message: Er7Message, local_zone: tzinfo
          ) -> tuple[_Reader, str, Segment, datetime]:
    """What every mapping reads first: sender, patient segment and the message's time."""
    reader = _Reader(message, local_zone)
    organisation = sending_organisation(message)
    pid = patient_segment(message)
    occurred_at = event_time(message, reader)
    reader.fallback = occurred_at
    return reader, organisation, pid, occurred_at


def mapped_message_from_adt(message: Er7Message, local_zone: tzinfo) -> MappedMessage:
    """An ADT message (admit, transfer, discharge, register, update, cancel) about one elder."""
    from mappings.hl7v2.results import observations  # results reads OBX for ADT and ORU alike

    _, trigger = message_type(message)
    reader, organisation, pid, occurred_at = begin(message, local_zone)
    facts = visit_facts(message, reader, trigger, occurred_at)
    facts += observations(message, reader)
    subject, warnings = subject_of(message, pid, organisation, reader, facts, occurred_at)
    if trigger == "A40":
        subject = replace(subject, merges=merged_patients(message, organisation))
    return finish(reader, organisation, [subject], warnings)


def merged_patients(message: Er7Message, organisation: str) -> tuple[MergeRequest, ...]:
    """A40 (merge patient): PID is the survivor, each MRG-1 names a record merged into it."""
    merges = []
    for mrg in (s for s in message.segments if s.id == "MRG"):
        ids = tuple(identifiers.from_cx(message.part(rep, 1), message.part(rep, 5),
                                        message.part(rep, 4, 1) or message.part(rep, 4, 2),
                                        organisation)
                    for rep in message.repetitions(mrg, 1) if message.part(rep, 1))
        if not any(i.linkable for i in ids):
            raise MappingError(Problem("required-field-missing", "MRG-1 names no patient "
                                       "identifier to merge", location(mrg, message, 1)))
        merges.append(MergeRequest(other=ids, subject_survives=True,
                                   location=location(mrg, message, 1)))
    if not merges:
        raise MappingError(Problem("segment-missing", "an A40 needs an MRG segment", "MRG"))
    return tuple(merges)
