"""一码通用: one elder however the hospital, its FHIR server and the care home name them; a
身份证 that fails its check digit is kept but never joins two people, and the sender hears so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.bootstrap import Hub
from tests.api import headers
from tests.care_records import vital_signs
from tests.fhir_support import RESIDENT_ID
from tests.identity_city import City, open_city
from tests.messages import adt, resident_id

NATIONAL = resident_id("442527", "19440818", "022")  # 陈桂芳, female
BROKEN = NATIONAL[:-1] + ("0" if NATIONAL[-1] != "0" else "1")  # a clerk's slip


@pytest.fixture
def city(hub: Hub) -> Iterator[City]:
    yield from open_city(hub)


def fhir_patient(mrn: str, national: str, facility: str = "H1") -> dict[str, object]:
    return {"resourceType": "Patient",
            "identifier": [{"system": f"urn:yyhub:mrn:{facility}", "value": mrn},
                           {"system": RESIDENT_ID, "value": national}],
            "name": [{"text": "陈桂芳", "family": "陈", "given": ["桂芳"]}],
            "gender": "female", "birthDate": "1944-08-18"}


def test_hospital_mrn_then_fhir_with_id_then_care_home_record_are_one_elder(city: City) -> None:
    # The hospital's HIS knows her only by its record number.
    ack = city.client.post("/hl7v2", headers=headers(city.keys["H1"]),
                           content=adt("A04", facility="H1", mrn="MR-7788", family="陈",
                                       given="桂芳", birth="19440818").encode())
    assert "MSA|AA" in ack.text
    # Its FHIR server then sends her with the same record number and her 身份证.
    created = city.client.post("/fhir/Patient", headers=headers(city.keys["H1"]),
                               json=fhir_patient("MR-7788", NATIONAL))
    assert created.status_code in (200, 201), created.text
    # The care home only knows her 身份证.
    logged = city.client.post("/care-logs", headers=headers(city.keys["CH"]),
                              json=vital_signs("CH-1", "2026-03-02 08:00", 132, 84,
                                               national=NATIONAL, organisation="CH"))
    assert logged.status_code in (200, 201), logged.text

    position = logged.headers["X-Hub-Position"]
    found = city.read("/elders", identifier=NATIONAL, wait_for=position)
    assert len(found) == 1
    by_mrn = city.read("/elders", identifier="urn:yyhub:mrn:H1|MR-7788")
    assert [e["id"] for e in by_mrn] == [found[0]["id"]]
    profile = city.read(f"/elders/{found[0]['id']}/profile")
    held = {(i["system"], i["value"]) for i in profile["identifiers"]}
    assert {("urn:yyhub:mrn:H1", "MR-7788"), (RESIDENT_ID, NATIONAL)} <= held
    assert profile["demographics"]["name"] == "陈桂芳"
    kinds = {e["kind"] for e in city.read(f"/elders/{found[0]['id']}/timeline")["entries"]}
    assert "observation" in kinds  # the care home's reading joined her history


def test_a_wrong_check_digit_never_joins_two_elders_and_every_sender_is_told(
        city: City) -> None:
    one = city.client.post("/hl7v2", headers=headers(city.keys["H1"]),
                           content=adt(facility="H1", mrn="A-1", national_id=BROKEN).encode())
    assert "MSA|AA" in one.text and "ERR|" in one.text and BROKEN in one.text
    two = city.client.post("/fhir/Patient", headers=headers(city.keys["H2"]),
                           json=fhir_patient("B-2", BROKEN, facility="H2"))
    assert two.status_code == 201, two.text
    issues = two.json()["issue"]
    assert any(i["severity"] == "warning" and BROKEN in i["diagnostics"] for i in issues)
    three = city.client.post("/care-logs", headers=headers(city.keys["CH"]),
                             json=vital_signs("CH-9", "2026-03-02 08:00", 120, 80,
                                              national=BROKEN, organisation="CH"))
    assert three.status_code == 422 and "身份证号" in three.text

    a = city.read("/elders", identifier="urn:yyhub:mrn:H1|A-1",
                 wait_for=two.headers["X-Hub-Position"])
    b = city.read("/elders", identifier="urn:yyhub:mrn:H2|B-2")
    assert len(a) == len(b) == 1 and a[0]["id"] != b[0]["id"]
    # The broken number is searchable on neither: it links nobody.
    assert city.read("/elders", identifier=BROKEN) == []
    # It is still kept on each record, as the sender stated it.
    for elder in (a[0], b[0]):
        profile = city.read(f"/elders/{elder['id']}/profile")
        kept = [i for i in profile["identifiers"] if i["value"] == BROKEN]
        assert kept and kept[0]["linkable"] is False
