"""Conformance: the hub's facts agree with the FHIR bundles Microsoft's converter expects.

Every corpus message goes through the hub. For messages with an expected bundle (PAIRS.tsv) the
facts the hub recorded from that message are compared, per resource type, with the bundle:
patient identifiers, names, gender, birth date; encounter class, status and period; observation
code, value, unit and effective time; condition code; allergy code and reaction. Instants are
compared as instants. Out-of-scope types must be kept and answered AE, never lost.

Run with `-s` to see the table. Every disagreement that remains is explained by a rule in
`explain`, printed with the places it covers; an unexplained one fails the test.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapters.bootstrap import Hub, bootstrap
from adapters.hl7v2.intake import MAPPINGS
from adapters.settings import Settings
from hub.elder import Elder
from hub.facts import Allergy, Demographics, Diagnosis, Encounter, Observation
from mappings.hl7v2 import er7, tables
from tests.corpus import Pair, message_type, pairs

GENDER = {"1": "male", "2": "female", "0": "unknown", "9": "other"}

WALL_CLOCK = ("the source time has no offset: the converter read it in its build host's zone, "
              "the hub in the configured local zone (Asia/Shanghai); compared on the wall clock")
WALL_CLOCK_COMPARISONS: list[str] = []  # printed with the table, so none is silent


def _values(message: er7.Er7Message, segment_id: str, fields: tuple[int, ...],
            component: int = 1) -> set[str]:
    return {message.part(rep, component) for seg in message.all(segment_id) for f in fields
            for rep in message.repetitions(seg, f)}


def explain(message: er7.Er7Message, kind: str, where: str, expected: Any, ours: Any
            ) -> str | None:
    """Why the hub disagrees with the converter here on purpose, or None if it should not.

    Each rule is a decision about what a fact means, stated once; the table prints the reason
    next to every disagreement it covers.
    """
    if where.startswith("Patient.identifier") and expected not in _values(
            message, "PID", (2, 3, 4, 19)):
        return ("the converter also takes identifiers from PID-20 (driver's licence), DB1, "
                "IN1/IN2 and GT1; the hub links elders only on patient identifiers "
                "(PID-2/3/4/19)")
    pid = message.first("PID")
    called_by = message.get(pid, 5, 15)
    if where == "Patient.name.given" and called_by and expected == f"{ours} {called_by}":
        return "the converter adds XPN-15 'called by' (a nickname) to the given names"
    obx_codes = _values(message, "OBX", (3,))
    if where.startswith("Observation ") and kind.startswith("MDM"):
        return ("in MDM the OBX segments are the document's body: the hub keeps them as the "
                "ClinicalDocument's text, not as observations")
    if where.startswith("Observation ") and expected not in obx_codes:
        return ("the converter synthesises this observation from PDA/ACC (death certificate, "
                "autopsy, coroner, injury), not from an OBX result")
    if where.startswith("Condition.code") and expected not in _values(message, "DG1", (3,)):
        return "the converter makes a Condition from PDA-1 (cause of death); the hub reads DG1"
    if where == "Encounter" and kind in ("ADT^A28", "ADT^A31"):
        return ("A28/A31 add or update a person; the PV1 they must carry is a pseudo-visit, "
                "so the hub records no visit")
    pv2 = message.first("PV2")
    if (where == "Encounter.period.end" and ours is None and pv2 is not None
            and message.get(pv2, 9)):
        return ("the converter ends the visit at PV2-9 (expected discharge); the hub takes a "
                "plan for the period only for a planned visit, never for one in progress")
    return None


@dataclass
class Tally:
    """One row of the table: a message type's messages, acceptance and agreement."""

    messages: int = 0
    accepted: int = 0
    agreed: int = 0
    disagreements: list[tuple[str, str, Any, Any, str | None]] = field(default_factory=list)


def _instant(text: str) -> datetime | date:
    if len(text) <= 10:
        return date.fromisoformat(text) if len(text) == 10 else date.fromisoformat(
            (text + "-01-01")[:10])
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def same_time(expected: str | None, ours: datetime | date | None) -> bool:
    """Instants compared as instants; a date-only value compared as a date. A time the source
    sent without an offset is compared on the wall clock (see WALL_CLOCK)."""
    if expected is None or ours is None:
        return expected is None and ours is None
    theirs = _instant(expected)
    if isinstance(theirs, datetime) and isinstance(ours, datetime):
        if isinstance(ours.tzinfo, ZoneInfo):
            WALL_CLOCK_COMPARISONS.append(f"{expected} ~ {ours.isoformat()}")
            return theirs.replace(tzinfo=None) == ours.replace(tzinfo=None)
        return theirs == ours
    ours_day = ours.date() if isinstance(ours, datetime) else ours
    theirs_day = theirs.date() if isinstance(theirs, datetime) else theirs
    return ours_day == theirs_day


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", [])
            if e["resource"]["resourceType"] == kind]


def _code(concept: dict[str, Any] | None) -> str:
    if not concept:
        return ""
    codings = concept.get("coding") or [{}]
    return str(codings[0].get("code") or concept.get("text") or "")


def compare(bundle: dict[str, Any], facts: list[tuple[Any, datetime]],
            identifiers: set[str]) -> Iterator[tuple[str, bool, Any, Any]]:
    """(field, agreed, expected, ours) for each compared field."""
    demographics = next((f for f, _ in facts if isinstance(f, Demographics)), None)
    for patient in _resources(bundle, "Patient")[:1]:
        for ident in patient.get("identifier", []):
            value = ident.get("value")
            if value:
                yield f"Patient.identifier {value}", value in identifiers, value, None
        name = (patient.get("name") or [{}])[0]
        if demographics is not None:
            if "family" in name:
                yield "Patient.name.family", name["family"] == demographics.family, \
                    name["family"], demographics.family
            if "given" in name:
                given = " ".join(name["given"])
                yield "Patient.name.given", given == demographics.given, given, demographics.given
            sex = demographics.sex.code if demographics.sex else None
            if "gender" in patient:
                yield "Patient.gender", GENDER.get(sex or "") == patient["gender"], \
                    patient["gender"], sex
            if "birthDate" in patient:
                yield "Patient.birthDate", same_time(patient["birthDate"],
                                                     demographics.birth_date), \
                    patient["birthDate"], demographics.birth_date
    encounters = [f for f, _ in facts if isinstance(f, Encounter)]
    for expected in _resources(bundle, "Encounter")[:1]:
        ours = encounters[0] if encounters else None
        if ours is None:
            yield "Encounter", False, expected.get("status"), None
            continue
        klass = expected.get("class", {}).get("code")
        our_class = (tables.PATIENT_CLASS.get(ours.patient_class.code, ("",))[0]
                     if ours.patient_class else None)
        if klass:
            yield "Encounter.class", klass == our_class, klass, our_class
        yield "Encounter.status", expected.get("status") == ours.status, expected.get(
            "status"), ours.status
        period = expected.get("period") or {}
        yield "Encounter.period.start", same_time(period.get("start"), ours.admitted_at), \
            period.get("start"), ours.admitted_at
        yield "Encounter.period.end", same_time(period.get("end"), ours.discharged_at), \
            period.get("end"), ours.discharged_at
    observations = [(f, when) for f, when in facts if isinstance(f, Observation)]
    for expected in _resources(bundle, "Observation"):
        code = _code(expected.get("code"))
        match = next((i for i, (f, _) in enumerate(observations) if f.code.code == code), None)
        if match is None:
            yield f"Observation {code}", False, code, None
            continue
        ours, when = observations.pop(match)
        yield from _observation_fields(code, expected, ours, when)
    diagnoses = {f.condition.code or f.condition.display for f, _ in facts
                 if isinstance(f, Diagnosis)}
    for condition in _resources(bundle, "Condition"):
        code = _code(condition.get("code"))
        if code:
            yield f"Condition.code {code}", code in diagnoses, code, sorted(diagnoses)
    allergies = {(f.allergen.code or f.allergen.display): f for f, _ in facts
                 if isinstance(f, Allergy)}
    for allergy in _resources(bundle, "AllergyIntolerance"):
        code = _code(allergy.get("code"))
        ours_allergy = allergies.get(code)
        yield f"AllergyIntolerance.code {code}", ours_allergy is not None, code, sorted(allergies)
        reactions = [_code(m) for r in allergy.get("reaction", [])
                     for m in r.get("manifestation", [])]
        if ours_allergy is not None and reactions:
            yield "AllergyIntolerance.reaction", reactions == list(ours_allergy.reactions), \
                reactions, ours_allergy.reactions


def _observation_fields(code: str, expected: dict[str, Any], ours: Observation,
                        when: datetime) -> Iterator[tuple[str, bool, Any, Any]]:
    yield f"Observation {code}", True, code, ours.code.code
    if "valueQuantity" in expected:
        quantity = expected["valueQuantity"]
        value = Decimal(str(quantity.get("value")))
        yield "Observation.value", ours.value_quantity == value, value, ours.value_quantity
        if "unit" in quantity:
            yield "Observation.unit", quantity["unit"] == ours.unit, quantity["unit"], ours.unit
    elif "valueString" in expected:
        yield "Observation.value", expected["valueString"] == ours.value_text, \
            expected["valueString"], ours.value_text
    elif "valueCodeableConcept" in expected:
        theirs = _code(expected["valueCodeableConcept"])
        mine = ours.value_coding.code if ours.value_coding else None
        yield "Observation.value", theirs == mine, theirs, mine
    if "effectiveDateTime" in expected:
        yield "Observation.effective", same_time(expected["effectiveDateTime"], when), \
            expected["effectiveDateTime"], when


@pytest.fixture(scope="module")
def corpus_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """One hub for the whole corpus (the mapping, not the backend, is under test here)."""
    path = tmp_path_factory.mktemp("conformance") / "hub.db"
    running = bootstrap(Settings(database_url=f"sqlite:///{path}"))
    yield running
    running.close()


def _facts_and_identifiers(hub: Hub, message_id: Any, elder_ids: tuple[Any, ...]
                           ) -> tuple[list[tuple[Any, datetime]], set[str]]:
    facts: list[tuple[Any, datetime]] = []
    identifiers: set[str] = set()
    for elder_id in elder_ids:
        for event in hub.app.elder_events(elder_id):
            if isinstance(event, Elder.Registered):
                identifiers.add(event.master_identifier.value)
            elif isinstance(event, Elder.IdentifierLinked):
                identifiers.add(event.identifier.value)
            elif (isinstance(event, Elder.FactsRecorded)
                  and event.source.message_id == message_id):
                facts.extend((dated.fact, dated.occurred_at) for dated in event.facts)
    return facts, identifiers


def test_hub_agrees_with_the_fhir_converter_on_the_corpus(corpus_hub: Hub) -> None:
    table: dict[str, Tally] = defaultdict(Tally)
    for pair in pairs():
        kind = "^".join(message_type(pair.raw))
        tally = table[kind]
        tally.messages += 1
        answer = corpus_hub.hl7.receive(pair.raw, "conformance")
        in_scope = message_type(pair.raw) in MAPPINGS
        assert answer.ack_code == ("AA" if in_scope else "AE"), (pair.name, answer.ack)
        assert answer.receipt.position is not None  # kept, whatever the outcome
        if answer.ack_code != "AA":
            continue
        tally.accepted += 1
        if pair.expected is None:
            continue
        _compare_pair(corpus_hub, pair, kind, answer.receipt, tally)
    _print_table(table)
    unexplained = [d for t in table.values() for d in t.disagreements if d[4] is None]
    assert not unexplained, "\n".join(f"{d[0]} {d[1]}: converter {d[2]!r}, hub {d[3]!r}"
                                      for d in unexplained)


def _compare_pair(hub: Hub, pair: Pair, kind: str, receipt: Any, tally: Tally) -> None:
    assert pair.expected is not None
    bundle = json.loads(Path(pair.expected).read_text(encoding="utf-8-sig"))
    facts, identifiers = _facts_and_identifiers(hub, receipt.message_id, receipt.elder_ids)
    message, _ = er7.read(pair.raw)
    for name, agreed, expected, ours in compare(bundle, facts, identifiers):
        if agreed:
            tally.agreed += 1
        else:
            reason = explain(message, kind, name, expected, ours)
            tally.disagreements.append((pair.name, name, expected, ours, reason))


def _print_table(table: dict[str, Tally]) -> None:
    print("\nmessage type | messages | accepted | agreed fields | disagreements")
    for kind in sorted(table):
        t = table[kind]
        print(f"{kind:12} | {t.messages:8} | {t.accepted:8} | {t.agreed:13} | "
              f"{len(t.disagreements)}")
    reasons: dict[str, list[str]] = defaultdict(list)
    for kind in sorted(table):
        for name, where, _expected, _ours, reason in table[kind].disagreements:
            reasons[reason or "UNEXPLAINED"].append(f"{name} {where}")
    if WALL_CLOCK_COMPARISONS:
        print(f"\n{len(WALL_CLOCK_COMPARISONS)} times × {WALL_CLOCK}")
    for reason, places in reasons.items():
        print(f"\n{len(places)} × {reason}:\n    " + "; ".join(places))
