"""FHIR R4 resources become plain facts: real official examples in, hub values out."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from hub.facts import Demographics, Medication, Observation
from hub.values import Coding, Identifier
from mappings.errors import MappingError
from mappings.fhir import reading, resources
from tests.fhir_support import RESIDENT_ID, example
from tests.messages import resident_id

CTX = resources.Context("SHDF", datetime(2026, 3, 1, tzinfo=UTC), ZoneInfo("Asia/Shanghai"))


def mapped(data: dict) -> resources.SubjectRecord:  # type: ignore[type-arg]
    return resources.subject_record_from(reading.validate(data), CTX)


def test_chinese_patient_keeps_name_sex_address_and_identifiers() -> None:
    data = example("Patient-ch-example.json")
    data["identifier"].append({"system": RESIDENT_ID, "value": resident_id()})
    record = mapped(data)
    facts = [d.fact for d in record.facts]
    demographics = next(f for f in facts if isinstance(f, Demographics))
    assert demographics.name == "张无忌"
    assert demographics.sex == Coding("urn:oid:2.16.156.10011.2.3.3.4", "1", "男")
    assert demographics.birth_date == date(1974, 12, 25)
    assert demographics.address == "上海市黄埔区马当路190号200000"
    assert demographics.phone == "18337177888"
    assert Identifier("urn:oid:1.2.36.146.595.217.0.1", "3112219680806371X") in record.identifiers
    assert Identifier(RESIDENT_ID, resident_id()) in record.identifiers
    assert Identifier("urn:yyhub:fhir-id:SHDF:Patient", "ch-example") in record.identifiers


def test_r4_medication_codeable_concept_survives() -> None:
    """R5 dropped `medicationCodeableConcept`; the R4 models keep it and so does the fact."""
    record = mapped(example("MedicationRequest-medrx0308.json"))
    fact = record.facts[0].fact
    assert isinstance(fact, Medication)
    assert fact.medication == Coding("http://www.nlm.nih.gov/research/umls/rxnorm", "856907",
                                     "Vicodin 5/500 Oral Tablet")
    assert record.facts[0].occurred_at == datetime(2015, 1, 15, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_contained_medication_gives_its_code() -> None:
    fact = mapped(example("MedicationRequest-medrx0302.json")).facts[0].fact
    assert isinstance(fact, Medication)
    assert fact.medication.code == "324252006"


def test_blood_pressure_keeps_both_components_with_units() -> None:
    record = mapped(example("Observation-blood-pressure.json"))
    fact = record.facts[0].fact
    assert isinstance(fact, Observation)
    assert [(c.code.code, c.value_quantity, c.unit_code) for c in fact.components] == [
        ("8480-6", Decimal("107"), "mm[Hg]"), ("8462-4", Decimal("60"), "mm[Hg]")]
    assert fact.category == "vital-signs"
    assert record.identifiers == (Identifier("urn:yyhub:fhir-id:SHDF:Patient", "example"),)
    assert record.must_exist


@pytest.mark.parametrize(("reference", "expected"), [
    ("Patient/3f1c1e1a-7d7e-5b5e-9c39-0d1e1f2a3b4c",
     UUID("3f1c1e1a-7d7e-5b5e-9c39-0d1e1f2a3b4c")),
    ("http://hospital.example/fhir/Patient/p7/_history/2", None),
])
def test_subject_by_reference(reference: str, expected: UUID | None) -> None:
    data = {**example("Observation-heart-rate.json"), "subject": {"reference": reference}}
    record = mapped(data)
    assert record.elder_id == expected
    assert record.identifiers[0].system == "urn:yyhub:fhir-id:SHDF:Patient"


def test_subject_by_identifier_search_url() -> None:
    national = resident_id()
    data = {**example("Observation-heart-rate.json"),
            "subject": {"reference": f"Patient?identifier={RESIDENT_ID}|{national}"}}
    assert mapped(data).identifiers == (Identifier(RESIDENT_ID, national),)


def test_validation_errors_name_the_element_by_fhirpath() -> None:
    data = example("Observation-blood-pressure.json")
    data["component"][1]["valueQuantity"]["value"] = "sixty"
    data["status"] = 7
    with pytest.raises(MappingError) as error:
        reading.validate(data, "Bundle.entry[4].resource")
    assert sorted(p.location for p in error.value.problems) == [
        "Bundle.entry[4].resource.component[1].valueQuantity.value",
        "Bundle.entry[4].resource.status"]


def test_subject_that_is_not_a_patient_is_refused() -> None:
    data = {**example("Observation-heart-rate.json"), "subject": {"reference": "Group/101"}}
    with pytest.raises(MappingError) as error:
        mapped(data)
    assert error.value.problems[0].location == "Observation.subject.reference"
