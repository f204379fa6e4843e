"""A family doctor's FHIR app (fhirpy) against a running `yyhub serve`: Patient by id and by
identifier, and the whole record paged through `$everything` next links."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fhirpy import SyncFHIRClient

from tests.fhir_support import RESIDENT_ID, example
from tests.messages import resident_id


@pytest.fixture
def yyhub_serve(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`yyhub serve` in its own process, with the app's organisation registered by
    `yyhub orgs add`; ready once it logs that start-up is complete. Yields (URL, key)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "YYHUB_DATABASE_URL": f"sqlite:///{tmp_path}/hub.db"}
    added = subprocess.run([sys.executable, "-m", "adapters.cli", "orgs", "add", "DGZY",
                            "--role", "hospital", "--name", "东莞市中医院"],
                           env=env, capture_output=True, text=True, check=True, timeout=120)
    key = added.stdout.strip().splitlines()[-1]
    server = subprocess.Popen(
        [sys.executable, "-c", "from adapters.cli import main; main()", "serve",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stderr=subprocess.PIPE, text=True)
    assert server.stderr is not None
    for line in server.stderr:  # blocks on the server's own log, no polling
        if "Application startup complete" in line:
            break
    else:
        raise AssertionError("yyhub serve exited before it was ready")
    # Keep reading its log so a full pipe never blocks the server.
    threading.Thread(target=server.stderr.read, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}", key
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_family_doctor_app_reads_patient_and_pages_everything(
        yyhub_serve: tuple[str, str]) -> None:
    base, key = yyhub_serve
    auth = {"Authorization": f"Bearer {key}"}
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
    posted = httpx.post(f"{base}/fhir", content=json.dumps(
        {"resourceType": "Bundle", "type": "transaction", "entry": entries},
        ensure_ascii=False).encode(), headers={"Content-Type": "application/fhir+json", **auth})
    assert posted.status_code == 200, posted.text
    position = posted.headers["X-Hub-Position"]

    # Read-your-writes: fhirpy rewrites `_` in search parameter names, so the one read that
    # waits for the write's position goes out plainly.
    httpx.get(f"{base}/fhir/Patient", params={"identifier": national, "wait_for": position},
              headers=auth)

    client = SyncFHIRClient(f"{base}/fhir", url_aliases=[f"{base}/fhir"],
                            authorization=f"Bearer {key}")
    found = client.resources("Patient").search(identifier=f"{RESIDENT_ID}|{national}").fetch()
    assert len(found) == 1
    elder_id = found[0]["id"]
    read = client.reference("Patient", elder_id).to_resource()
    assert read["name"][0]["text"] == "张无忌"
    assert read["address"][0]["text"].startswith("上海市")
    assert client.resources("Patient").search(
        identifier="urn:oid:1.2.36.146.595.217.0.1|3112219680806371X").fetch()[0]["id"] == \
        elder_id

    heart_rates, pages = [], 0
    page = client.execute(f"Patient/{elder_id}/$everything", method="get", params={"_count": 3})
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
