"""FHIR ingest on SQLite and PostgreSQL: transactions all or nothing, batches entry by entry,
conditional creates that never duplicate, and one elder across HL7 v2 and FHIR."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from adapters.api.app import create_app
from adapters.bootstrap import Hub
from tests.api import as_sender
from tests.fhir_support import RESIDENT_ID, running_server
from tests.messages import adt, resident_id

FHIR = {"Content-Type": "application/fhir+json"}
HL7_CLINICAL = (
    "PV1|1|I|神经内科^302^2^DGSY||||D017^黄^伟|||NEU||||||||||V1|||||||||||||||||||||||||"
    "20260301080000+0800",
    "AL1|1|DA|PEN^青霉素^L|SV|皮疹",
    "DG1|1||I10^高血压^I10|高血压||W")


SENDER = "FHIR-H1"  # the hospital whose FHIR interface sends these resources


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    with TestClient(create_app(hub=hub, background_worker=False),
                    headers=as_sender(hub, SENDER)) as c:
        yield c


def patient(national: str, name: str = "王建国", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient",
            "identifier": [{"system": RESIDENT_ID, "value": national}],
            "name": [{"text": name, "family": name[0], "given": [name[1:]]}],
            "gender": "male", "birthDate": "1946-03-15", **extra}


def blood_pressure(subject: str, systolic: Any = 150, when: str = "2026-03-02T09:00:00+08:00"
                   ) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9",
                             "display": "血压"}]},
        "subject": {"reference": subject}, "effectiveDateTime": when,
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
             "valueQuantity": {"value": systolic, "unit": "mmHg",
                               "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
             "valueQuantity": {"value": 95, "unit": "mmHg",
                               "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]}


def transaction(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:00000000-0000-4000-8000-{i:012d}", "resource": r,
         "request": {"method": "POST", "url": r["resourceType"]}}
        for i, r in enumerate(resources)]}


def post(client: TestClient, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return client.post(path, content=json.dumps(body, ensure_ascii=False).encode(),
                       headers={**FHIR, **headers})


def everything(client: TestClient, elder_id: str, position: str, **params: Any
               ) -> list[dict[str, Any]]:
    bundle = client.get(f"/fhir/Patient/{elder_id}/$everything",
                        params={"wait_for": position, "_count": 1000, **params}).json()
    return [e["resource"] for e in bundle["entry"]]


def test_transaction_of_patient_and_blood_pressure_is_saved_at_once(client: TestClient) -> None:
    national = resident_id(sequence="011")
    answer = post(client, "/fhir", transaction(
        patient(national), blood_pressure("urn:uuid:00000000-0000-4000-8000-000000000000")))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["type"] == "transaction-response"
    locations = [e["response"]["location"] for e in body["entry"]]
    assert locations[0].startswith("Patient/") and locations[1].startswith("Observation/")
    assert all(e["response"]["status"] == "201 Created" for e in body["entry"])

    elder_id = locations[0].removeprefix("Patient/")
    record = everything(client, elder_id, answer.headers["X-Hub-Position"])
    assert record[0]["name"][0]["text"] == "王建国"
    bp = next(r for r in record if r["resourceType"] == "Observation")
    assert [c["valueQuantity"]["value"] for c in bp["component"]] == [150, 95]
    assert bp["effectiveDateTime"] == "2026-03-02T09:00:00+08:00"
    assert bp["meta"]["source"].startswith(f"urn:yyhub:source:{SENDER}:fhir:")


def test_transaction_with_one_invalid_entry_changes_nothing_and_names_entry_and_element(
        client: TestClient) -> None:
    national = resident_id(sequence="013")
    bundle = transaction(patient(national),
                         blood_pressure("urn:uuid:00000000-0000-4000-8000-000000000000"),
                         blood_pressure("urn:uuid:00000000-0000-4000-8000-000000000000",
                                        systolic="一百五"))
    answer = post(client, "/fhir", bundle)
    assert answer.status_code == 422
    issues = answer.json()["issue"]
    assert [i["expression"] for i in issues] == [
        ["Bundle.entry[2].resource.component[0].valueQuantity.value"]]
    position = answer.headers["X-Hub-Position"]
    assert client.get("/fhir/Patient", params={"identifier": f"{RESIDENT_ID}|{national}",
                                                "wait_for": position}).json()["total"] == 0
    rejected = client.get("/inbound", params={"outcome": "rejected"}).json()
    assert rejected[0]["message_type"] == "Bundle/transaction"
    assert rejected[0]["problems"][0]["location"].startswith("Bundle.entry[2]")


def test_unresolvable_subject_is_refused_with_its_path(client: TestClient) -> None:
    answer = post(client, "/fhir/Observation", blood_pressure("Patient/nobody-we-know"))
    assert answer.status_code == 422
    assert answer.json()["issue"][0]["expression"] == ["Observation.subject"]
    in_bundle = post(client, "/fhir", transaction(blood_pressure("Group/ward-3")))
    assert in_bundle.json()["issue"][0]["expression"] == [
        "Bundle.entry[0].resource.subject.reference"]


def test_bad_json_and_wrong_type_answer_400_with_operation_outcome(client: TestClient) -> None:
    broken = client.post("/fhir/Patient", content=b"{not json", headers=FHIR)
    assert broken.status_code == 400
    assert broken.json()["resourceType"] == "OperationOutcome"
    wrong = post(client, "/fhir/Patient", blood_pressure("Patient/x"))
    assert wrong.status_code == 400
    assert wrong.json()["issue"][0]["expression"] == ["resourceType"]


def test_batch_answers_each_entry_on_its_own(client: TestClient) -> None:
    national = resident_id(sequence="015")
    created = post(client, "/fhir/Patient", patient(national))
    elder = created.headers["Location"]
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": blood_pressure(elder), "request": {"method": "POST", "url": "Observation"}},
        {"resource": blood_pressure(elder, systolic="high"),
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": {"resourceType": "Organization", "name": "东莞市人民医院"},
         "request": {"method": "POST", "url": "Organization"}}]}
    answer = post(client, "/fhir", batch)
    entries = answer.json()["entry"]
    assert [e["response"]["status"] for e in entries] == [
        "201 Created", "422 Unprocessable Entity", "404 Not Found"]
    assert entries[1]["response"]["outcome"]["issue"][0]["expression"] == [
        "Bundle.entry[1].resource.component[0].valueQuantity.value"]
    assert entries[2]["response"]["outcome"]["issue"][0]["code"] == "not-supported"
    record = everything(client, elder.removeprefix("Patient/"), answer.headers["X-Hub-Position"])
    assert [r["resourceType"] for r in record] == ["Patient", "Observation"]


def test_resent_resource_creates_nothing_new(client: TestClient) -> None:
    national = resident_id(sequence="017")
    elder = post(client, "/fhir/Patient", patient(national)).headers["Location"]
    first = post(client, "/fhir/Observation", blood_pressure(elder))
    again = post(client, "/fhir/Observation", blood_pressure(elder))
    assert (first.status_code, again.status_code) == (201, 200)
    record = everything(client, elder.removeprefix("Patient/"), again.headers["X-Hub-Position"])
    assert len([r for r in record if r["resourceType"] == "Observation"]) == 1


def test_unsupported_type_is_kept_raw_and_answered_not_supported(client: TestClient) -> None:
    answer = post(client, "/fhir/Organization", {"resourceType": "Organization",
                                                 "name": "东莞市人民医院"})
    assert answer.status_code == 404
    assert answer.json()["issue"][0]["code"] == "not-supported"
    kept = client.get("/inbound", params={"outcome": "rejected",
                                          "wait_for": answer.headers["X-Hub-Position"]}).json()
    assert kept[0]["message_type"] == "Organization"


def test_conditional_create_finds_the_existing_patient(client: TestClient) -> None:
    national = resident_id(sequence="019")
    first = post(client, "/fhir/Patient", patient(national))
    again = post(client, "/fhir/Patient", patient(national, name="王建民"),
                 **{"If-None-Exist": f"identifier={RESIDENT_ID}|{national}"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Location"] == first.headers["Location"]


def test_ten_concurrent_conditional_creates_make_one_elder(hub: Hub) -> None:
    national = resident_id(sequence="021")
    with running_server(hub) as base, httpx.Client(base_url=base, timeout=60,
                                                  headers=as_sender(hub, SENDER)) as http:
        def create(i: int) -> httpx.Response:
            body = patient(national, telecom=[{"system": "phone", "value": f"1380000{i:04d}"}])
            return http.post("/fhir/Patient", content=json.dumps(body).encode(), headers={
                **FHIR, "If-None-Exist": f"identifier={RESIDENT_ID}|{national}"})

        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(create, range(10)))
        assert {a.status_code for a in answers} <= {200, 201}
        assert len({a.headers["Location"] for a in answers}) == 1
        position = max(int(a.headers["X-Hub-Position"]) for a in answers)
        found = http.get("/fhir/Patient", params={"identifier": f"{RESIDENT_ID}|{national}",
                                                  "wait_for": position}).json()
        assert found["total"] == 1
        assert sorted(a.status_code for a in answers) == [200] * 9 + [201]
        elder_id = found["entry"][0]["resource"]["id"]
        kinds = http.get(f"/elders/{elder_id}/timeline", params={"kind": "demographics"}).json()
        assert len(kinds["entries"]) == 1  # the nine that lost the race stated nothing


def test_elder_known_from_hl7_adt_gets_fhir_observation_on_the_same_record(
        client: TestClient) -> None:
    national = resident_id(sequence="023")
    acked = client.post("/hl7v2", headers=as_sender(client.app.state.hub, "DGSY"),
                        content=adt(national_id=national, extra=HL7_CLINICAL).encode())
    assert "MSA|AA" in acked.text
    observed = post(client, "/fhir/Observation", blood_pressure(
        f"Patient?identifier={RESIDENT_ID}|{national}"))
    assert observed.status_code == 201, observed.text
    found = client.get("/fhir/Patient", params={"identifier": f"{RESIDENT_ID}|{national}",
                                                "wait_for": observed.headers["X-Hub-Position"]})
    assert found.json()["total"] == 1
    patient_resource = found.json()["entry"][0]["resource"]
    assert patient_resource["name"][0]["text"] == "张秀英"
    record = everything(client, patient_resource["id"], observed.headers["X-Hub-Position"])
    channels = {r["meta"]["source"].split(":")[4] for r in record if "source" in r["meta"]}
    assert channels == {"hl7v2-http", "fhir"}
    assert ":hl7v2-http:" in record[0]["meta"]["source"]
    assert sorted(r["resourceType"] for r in record) == [
        "AllergyIntolerance", "Condition", "Encounter", "Observation", "Patient"]
    allergy = next(r for r in record if r["resourceType"] == "AllergyIntolerance")
    assert allergy["code"]["text"] == "青霉素"
    assert allergy["category"] == ["medication"]
    assert allergy["reaction"][0]["severity"] == "severe"


def test_everything_filters_by_type_and_since_and_pages(client: TestClient) -> None:
    national = resident_id(sequence="025")
    elder = post(client, "/fhir/Patient", patient(national)).headers["Location"]
    condition = {"resourceType": "Condition", "subject": {"reference": elder},
                 "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10",
                                      "code": "I10", "display": "原发性高血压"}]},
                 "onsetDateTime": "2025-12-01"}
    post(client, "/fhir/Condition", condition)
    for day in range(1, 6):
        last = post(client, "/fhir/Observation",
                    blood_pressure(elder, 140 + day, f"2026-03-0{day}T09:00:00+08:00"))
    elder_id = elder.removeprefix("Patient/")
    only_bp = everything(client, elder_id, last.headers["X-Hub-Position"], _type="Observation")
    assert [r["resourceType"] for r in only_bp] == ["Observation"] * 5

    future = everything(client, elder_id, last.headers["X-Hub-Position"],
                        _since="2999-01-01T00:00:00+08:00")
    assert [r["resourceType"] for r in future] == ["Patient"]

    seen, url = [], f"/fhir/Patient/{elder_id}/$everything?_count=2"
    while url:
        page = client.get(url).json()
        seen += [e["resource"]["resourceType"] for e in page["entry"]]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert seen == ["Patient", "Condition", *["Observation"] * 5]


def test_collection_keeps_unsupported_entries_raw_and_records_the_rest(
        client: TestClient) -> None:
    national = resident_id(sequence="027")
    bundle = transaction(patient(national), {"resourceType": "Organization", "name": "社区医院"},
                         blood_pressure("urn:uuid:00000000-0000-4000-8000-000000000000"))
    bundle["type"] = "collection"
    answer = post(client, "/fhir", bundle)
    assert answer.status_code == 200, answer.text
    statuses = [e["response"]["status"] for e in answer.json()["entry"]]
    assert statuses == ["201 Created", "200 OK", "201 Created"]
    assert answer.json()["entry"][1]["response"]["outcome"]["issue"][0]["code"] == \
        "not-supported"
    as_transaction = post(client, "/fhir", {**bundle, "type": "transaction"})
    assert as_transaction.status_code == 422
    assert as_transaction.json()["issue"][0]["expression"] == [
        "Bundle.entry[1].resource.resourceType"]


def test_capability_statement_tells_what_is_supported(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    assert statement["fhirVersion"] == "4.0.1"
    types = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert "Organization" not in types and "Consent" in types
    assert types["Patient"]["operation"][0]["name"] == "everything"
    assert {i["code"] for i in statement["rest"][0]["interaction"]} == {"transaction", "batch"}


def test_everything_pages_a_long_record_a_bounded_page_at_a_time(sqlite_hub: Hub) -> None:
    """Each page reads `_count` timeline rows (the cursor query), however long the record."""
    national = resident_id(sequence="029")
    readings = [blood_pressure("urn:uuid:00000000-0000-4000-8000-000000000000", 100 + i % 80,
                               f"2025-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}T0{i % 10}:00:00"
                               "+08:00") for i in range(1200)]
    with TestClient(create_app(hub=sqlite_hub, background_worker=False),
                    headers=as_sender(sqlite_hub, SENDER)) as client:
        answer = post(client, "/fhir", transaction(patient(national), *readings))
        assert answer.status_code == 200
        elder_id = answer.json()["entry"][0]["response"]["location"].removeprefix("Patient/")
        sizes, url = [], (f"/fhir/Patient/{elder_id}/$everything?_count=500&_type=Observation"
                          f"&wait_for={answer.headers['X-Hub-Position']}")
        while url:
            page = client.get(url).json()
            sizes.append(len(page["entry"]))
            url = next((link["url"] for link in page["link"] if link["relation"] == "next"),
                       None)
    assert sizes == [500, 500, 200]
