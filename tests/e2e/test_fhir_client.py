"""A family doctor's FHIR app (fhirpy) against a running hub: Patient by id and by identifier,
and the whole record paged through `$everything` next links."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from fhirpy import SyncFHIRClient

from adapters.bootstrap import bootstrap
from adapters.settings import Settings
from tests.fhir_support import RESIDENT_ID, example, running_server
from tests.messages import resident_id


def test_family_doctor_app_reads_patient_and_pages_everything(tmp_path: Path) -> None:
    hub = bootstrap(Settings(database_url=f"sqlite:///{tmp_path}/hub.db"))
    national = resident_id(sequence="031")
    chinese = example("Patient-ch-example.json")
    chinese["identifier"].append({"system": RESIDENT_ID, "value": national})
    entries = [{"fullUrl": "urn:uuid:5c1b7a3e-0000-4000-8000-000000000001", "resource": chinese,
                "request": {"method": "POST", "url": "Patient"}}]
    for day in range(1, 8):
        entries.append({"resource": {
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4",
                                 "display": "心率"}]},
            "subject": {"reference": "urn:uuid:5c1b7a3e-0000-4000-8000-000000000001"},
            "effectiveDateTime": f"2026-03-0{day}T08:00:00+08:00",
            "valueQuantity": {"value": 70 + day, "unit": "/min",
                              "system": "http://unitsofmeasure.org", "code": "/min"}},
            "request": {"method": "POST", "url": "Observation"}})
    try:
        with running_server(hub) as base:
            posted = httpx.post(f"{base}/fhir", content=json.dumps(
                {"resourceType": "Bundle", "type": "transaction", "entry": entries},
                ensure_ascii=False).encode(), headers={"Content-Type": "application/fhir+json"})
            assert posted.status_code == 200, posted.text
            hub.projector.wait_for(int(posted.headers["X-Hub-Position"]))

            client = SyncFHIRClient(f"{base}/fhir", url_aliases=[f"{base}/fhir"])
            found = client.resources("Patient").search(
                identifier=f"{RESIDENT_ID}|{national}").fetch()
            assert len(found) == 1
            elder_id = found[0]["id"]
            read = client.reference("Patient", elder_id).to_resource()
            assert read["name"][0]["text"] == "张无忌"
            assert read["address"][0]["text"].startswith("上海市")

            heart_rates, pages = [], 0
            page = client.execute(f"Patient/{elder_id}/$everything", method="get",
                                  params={"_count": 3})
            while True:
                pages += 1
                heart_rates += [e["resource"]["valueQuantity"]["value"] for e in page["entry"]
                                if e["resource"]["resourceType"] == "Observation"]
                following = [link["url"] for link in page["link"] if link["relation"] == "next"]
                if not following:
                    break
                page = client.execute(following[0], method="get")
            assert heart_rates == [71, 72, 73, 74, 75, 76, 77]
            assert pages == 3
    finally:
        hub.close()
