"""ORU^R01 results (and OBX anywhere else) → `Observation` facts.

Each OBX becomes one observation at the time it was observed (OBX-14, else its OBR-7, else the
message time). A corrected result ('C') keeps the same `observation_id` as the result it
corrects, so the profile shows the correction and the timeline both.
"""

from __future__ import annotations

from datetime import tzinfo
from decimal import Decimal, InvalidOperation

from hub.application import MappedMessage, SubjectRecord
from hub.facts import DatedFact, Observation
from hub.values import Coding, Problem
from mappings.hl7v2 import tables
from mappings.hl7v2.adt import (
    _coding,
    _Reader,
    event_time,
    finish,
    location,
    patient_segment,
    sending_organisation,
    subject_of,
    visit_facts,
)
from mappings.hl7v2.er7 import Er7Message, Segment

# HL7 table 0085 (observation result status) → FHIR ObservationStatus.
RESULT_STATUS = {
    "C": "corrected", "D": "entered-in-error", "F": "final", "I": "registered",
    "N": "cancelled", "O": "registered", "P": "preliminary", "R": "preliminary",
    "S": "preliminary", "U": "final", "W": "entered-in-error", "X": "cancelled",
    "A": "amended",
}
TEXT_TYPES = {"ST", "TX", "FT", "ID", "IS", "DT", "TM", "DTM", "TS", "NA", "TN", "XTN"}
CODED_TYPES = {"CE", "CWE", "CNE", "CF", "CD"}
UCUM_SYSTEMS = {"UCUM", "ANSI+", "ISO+", "UCUM-CS"}


def observation_value(message: Er7Message, obx: Segment, reader: _Reader) -> dict[str, object]:
    """OBX-5 read by its data type (OBX-2): a number, a coding, or text."""
    value_type = message.get(obx, 2).upper()
    reps = message.repetitions(obx, 5)
    if not reps:
        return {}
    first = reps[0]
    if value_type == "NM":
        text = message.part(first).strip()
        if not text:
            return {}
        try:
            number = Decimal(text.replace(" ", ""))
        except InvalidOperation:
            reader.problems.append(Problem("bad-data-type", f"{text!r} is not a number (NM)",
                                           location(obx, message, 5)))
            return {}
        if len(reps) > 1:
            reader.problems.append(Problem(
                "repeated-value", "numeric result repeats; the first value was kept",
                location(obx, message, 5), severity="warning"))
        return {"value_quantity": number}
    if value_type == "SN":
        comparator, num1, separator, num2 = (message.part(first, i) for i in (1, 2, 3, 4))
        if num1 and not (comparator or separator or num2):
            try:
                return {"value_quantity": Decimal(num1)}
            except InvalidOperation:
                pass
        return {"value_text": f"{comparator}{num1}{separator}{num2}"}
    if value_type in CODED_TYPES:
        code, text, system = (message.part(first, i) for i in (1, 2, 3))
        if not (code or text):
            return {}
        return {"value_coding": Coding(tables.coding_system(system) if system else "", code,
                                       text)}
    if value_type in TEXT_TYPES or not value_type:
        return {"value_text": "\n".join(message.part(rep) for rep in reps)}
    if value_type == "ED":  # encapsulated data: keep its type, not the (often huge) payload
        return {"value_text": f"[{message.part(first, 2)}/{message.part(first, 3)}]"}
    return {"value_text": message.part(first)}


def _notes(message: Er7Message, index: int) -> str:
    """NTE-3 of the NTE segments right after the segment at `index`."""
    lines: list[str] = []
    for segment in message.segments[index + 1:]:
        if segment.id != "NTE":
            break
        lines += [message.part(rep) for rep in message.repetitions(segment, 3)]
    return "\n".join(line for line in lines if line)


def observations(message: Er7Message, reader: _Reader) -> list[DatedFact]:
    """Every OBX with a code, under the OBR before it."""
    found: list[DatedFact] = []
    obr: Segment | None = None
    for index, segment in enumerate(message.segments):
        if segment.id == "OBR":
            obr = segment
            continue
        if segment.id != "OBX":
            continue
        obx = segment
        code = _coding(message, obx, 3)
        if code is None:
            reader.problems.append(Problem(
                "observation-without-code", "OBX without an observation identifier skipped",
                location(obx, message, 3), severity="warning"))
            continue
        order = (message.get(obr, 3, 1) or message.get(obr, 2, 1)) if obr else ""
        unit_code, unit_text, unit_system = (message.get(obx, 6, i) for i in (1, 2, 3))
        when = (reader.timestamp(obx, 14) or (reader.timestamp(obr, 7) if obr else None)
                or reader.fallback)
        flags = [message.part(rep) for rep in message.repetitions(obx, 8)]
        value = observation_value(message, obx, reader)
        found.append(DatedFact(Observation(
            code=code,
            observation_id="|".join(p for p in (order, code.code, message.get(obx, 4)) if p),
            unit=unit_text or unit_code,  # for people; the UCUM code goes in unit_code
            unit_code=unit_code if unit_system.upper() in UCUM_SYSTEMS else "",
            reference_range=message.get(obx, 7),
            interpretation=",".join(f for f in flags if f),
            status=RESULT_STATUS.get(message.get(obx, 11).upper(), "final"),
            category="laboratory" if obr is not None else "",
            note=_notes(message, index),
            **value,  # type: ignore[arg-type]
        ), when))
    return found


def mapped_message_from_oru(message: Er7Message, local_zone: tzinfo) -> MappedMessage:
    """An ORU^R01 message: results for one or more patients, each with what PID says of them."""
    organisation = sending_organisation(message)
    reader = _Reader(message, local_zone)
    occurred_at = event_time(message, reader)
    reader.fallback = occurred_at
    subjects: list[SubjectRecord] = []
    warnings: list[Problem] = []
    for group in patient_groups(message):
        group_reader = _Reader(group, local_zone)
        group_reader.fallback = occurred_at
        facts = visit_facts(group, group_reader, "", occurred_at) + observations(group,
                                                                                  group_reader)
        pid = group.first("PID")
        assert pid is not None
        subject, more = subject_of(group, pid, organisation, group_reader, facts, occurred_at)
        subjects.append(subject)
        warnings += more
        reader.problems += group_reader.problems
    return finish(reader, organisation, subjects, warnings)


def patient_groups(message: Er7Message) -> list[Er7Message]:
    """The message split per PID (an ORU may carry several patients' results)."""
    header = message.segments[:1]
    groups: list[list[Segment]] = []
    for segment in message.segments[1:]:
        if segment.id == "PID":
            groups.append([])
        if groups:
            groups[-1].append(segment)
    if not groups:
        patient_segment(message)  # raises the missing-PID error
    return [Er7Message(header + group, message.encoding, message.charset) for group in groups]

