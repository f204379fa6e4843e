"""Bench: FHIR transaction ingest over HTTP against bare `fhir.resources.R4B` validation.

Generates Synthea-size transaction Bundles (one elder and a few hundred resources each: visits,
vital signs with blood-pressure components, labs, diagnoses, prescriptions, procedures,
vaccines), posts them to `yyhub serve` started on a free local port (its projection worker
running, as in production), and prints resources/s next to the rate of validating the same
resources with the R4 models alone, measured in the same run.

    python bench/fhir_ingest.py [--bundles 6] [--resources 300] [--database-url URL]

Not a test: numbers depend on the machine and the backend (SQLite file by default).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from stdnum.cn import ric

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

CST = timezone(timedelta(hours=8))
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
VITALS = [("8867-4", "心率", "/min", 60, 100), ("8310-5", "体温", "Cel", 36, 38),
          ("29463-7", "体重", "kg", 45, 80), ("9279-1", "呼吸频率", "/min", 12, 22),
          ("2708-6", "血氧饱和度", "%", 90, 100)]
LABS = [("2339-0", "血糖", "mmol/L", 4, 11), ("2093-3", "总胆固醇", "mmol/L", 3, 7),
        ("718-7", "血红蛋白", "g/L", 100, 160), ("2160-0", "肌酐", "umol/L", 50, 130)]
DIAGNOSES = [("I10", "原发性高血压"), ("E11.9", "2型糖尿病"), ("I63.9", "脑梗死"),
             ("J44.9", "慢性阻塞性肺病")]
DRUGS = [("860975", "二甲双胍 500mg"), ("197361", "氨氯地平 5mg"), ("617312", "阿托伐他汀 20mg")]


def resident_id(n: int) -> str:
    first17 = f"442527{19400101 + n % 28:08d}{n % 1000:03d}"
    return first17 + ric.calc_check_digit(first17 + "0")


def bundle(n: int, size: int, rng: random.Random) -> dict[str, Any]:
    """One elder's history as a transaction: Patient first, then `size - 1` resources."""
    patient_url = f"urn:uuid:00000000-0000-4000-8000-{n:012d}"
    subject = {"reference": patient_url}
    entries = [{"fullUrl": patient_url, "request": {"method": "POST", "url": "Patient"},
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": "urn:oid:2.16.156.10011.1.3",
                                    "value": resident_id(n)}],
                    "name": [{"text": f"李{n}伯", "family": "李", "given": [f"{n}伯"]}],
                    "gender": "male", "birthDate": "1940-01-01",
                    "telecom": [{"system": "phone", "value": f"138{n:08d}"}],
                    "address": [{"text": "广东省东莞市莞城街道"}]}}]
    start = datetime(2020, 1, 1, 8, tzinfo=CST)
    resource: dict[str, Any]
    for i in range(size - 1):
        when = (start + timedelta(hours=6 * i)).isoformat()
        pick = i % 10
        if pick == 0:
            resource = {"resourceType": "Encounter", "status": "finished",
                        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                  "code": "AMB"},
                        "subject": subject, "period": {"start": when, "end": when}}
        elif pick == 1:
            resource = {"resourceType": "Observation", "status": "final",
                        "code": {"coding": [{"system": LOINC, "code": "85354-9",
                                             "display": "血压"}]},
                        "subject": subject, "effectiveDateTime": when, "component": [
                            {"code": {"coding": [{"system": LOINC, "code": code}]},
                             "valueQuantity": {"value": rng.randint(low, high), "unit": "mmHg",
                                               "system": UCUM, "code": "mm[Hg]"}}
                            for code, low, high in (("8480-6", 110, 180), ("8462-4", 60, 110))]}
        elif pick in (2, 3, 4, 5):
            code, name, unit, low, high = rng.choice(VITALS if pick < 5 else LABS)
            resource = {"resourceType": "Observation", "status": "final",
                        "category": [{"coding": [{
                            "system": "http://terminology.hl7.org/CodeSystem/"
                                      "observation-category",
                            "code": "vital-signs" if pick < 5 else "laboratory"}]}],
                        "code": {"coding": [{"system": LOINC, "code": code, "display": name}]},
                        "subject": subject, "effectiveDateTime": when,
                        "valueQuantity": {"value": round(rng.uniform(low, high), 1),
                                          "unit": unit, "system": UCUM, "code": unit}}
        elif pick == 6:
            code, name = rng.choice(DIAGNOSES)
            resource = {"resourceType": "Condition", "subject": subject, "onsetDateTime": when,
                        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10",
                                             "code": code, "display": name}]}}
        elif pick == 7:
            code, name = rng.choice(DRUGS)
            resource = {"resourceType": "MedicationRequest", "status": "active",
                        "intent": "order", "subject": subject, "authoredOn": when,
                        "medicationCodeableConcept": {"coding": [{
                            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                            "code": code, "display": name}]},
                        "dosageInstruction": [{"text": "每日一次，每次一片"}]}
        elif pick == 8:
            resource = {"resourceType": "Procedure", "status": "completed", "subject": subject,
                        "performedDateTime": when,
                        "code": {"coding": [{"system": "http://snomed.info/sct",
                                             "code": "29303009", "display": "心电图"}]}}
        else:
            resource = {"resourceType": "Immunization", "status": "completed",
                        "patient": subject, "occurrenceDateTime": when,
                        "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx",
                                                    "code": "141", "display": "流感疫苗"}]}}
        entries.append({"fullUrl": f"urn:uuid:{n:08d}-{i:04d}-4000-8000-000000000000",
                        "request": {"method": "POST", "url": resource["resourceType"]},
                        "resource": resource})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def in_process_seconds(database_url: str, bodies: list[bytes], rng: random.Random) -> float:
    """The same Bundles through the FHIR intake called directly: no HTTP, no projection worker."""
    from adapters.bootstrap import bootstrap
    from adapters.settings import Settings

    if not database_url:
        return float("nan")
    hub = bootstrap(Settings(database_url=database_url))
    try:
        hub.fhir.receive_bundle(json.dumps(bundle(0, 20, rng)).encode(), "bench")
        began = time.perf_counter()
        for body in bodies:
            hub.fhir.receive_bundle(body, "bench")
        return time.perf_counter() - began
    finally:
        hub.close()


@contextmanager
def yyhub_serve(database_url: str) -> Iterator[str]:
    """`yyhub serve` in its own process on a free port; yields the base URL once it answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "YYHUB_DATABASE_URL": database_url}
    server = subprocess.Popen([sys.executable, "-c", "from adapters.cli import main; main()",
                               "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # a bench may wait for start-up; tests never do
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def register_hospital(database_url: str) -> str:
    """A hospital's API key, issued as an operator would (`yyhub orgs add`)."""
    out = subprocess.run([sys.executable, "-m", "adapters.cli", "orgs", "add", "DGSY", "--role",
                          "hospital", "--name", "东莞市人民医院"], capture_output=True, text=True,
                         check=True, env={**os.environ, "YYHUB_DATABASE_URL": database_url})
    return out.stdout.strip().splitlines()[-1]


def http_ingest_seconds(database_url: str, bodies: list[bytes], rng: random.Random) -> float:
    """POST each Bundle to `yyhub serve` (projection worker running); seconds for all."""
    key = register_hospital(database_url)
    # TCP_NODELAY: without it a request's last segment can wait for a delayed ACK (~40 ms).
    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    with yyhub_serve(database_url) as base, httpx.Client(
            base_url=base, timeout=300, transport=transport,
            headers={"Authorization": f"Bearer {key}"}) as http:
        headers = {"Content-Type": "application/fhir+json"}
        warm = bundle(0, 20, rng)  # the first request pays for imports and connections
        http.post("/fhir", content=json.dumps(warm).encode(), headers=headers)
        began = time.perf_counter()
        for body in bodies:
            answer = http.post("/fhir", content=body, headers=headers)
            if answer.status_code != 200:
                raise SystemExit(f"ingest refused a Bundle: {answer.text[:1000]}")
        return time.perf_counter() - began


def bare_validation_rate(bundles: list[dict[str, Any]], rounds: int = 3) -> float:
    """Resources/s for `model_validate` of every entry's resource alone (best of `rounds`)."""
    from bench.floors import r4b_validation_rate

    return r4b_validation_rate([e["resource"] for b in bundles for e in b["entry"]], rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=6)
    parser.add_argument("--resources", type=int, default=300, help="resources per bundle")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    rng = random.Random(4)
    bundles = [bundle(n, args.resources, rng) for n in range(1, args.bundles + 1)]
    bodies = [json.dumps(b, ensure_ascii=False).encode() for b in bundles]
    total = sum(len(b["entry"]) for b in bundles)

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{folder}/bench.db"
        ingest_seconds = http_ingest_seconds(url, bodies, rng)
        intake_seconds = in_process_seconds(f"{url}-intake" if url.startswith("sqlite")
                                            else "", bodies, rng)
    bare = bare_validation_rate(bundles)
    ingest = total / ingest_seconds
    backend = url.split(":", 1)[0]
    print(f"{args.bundles} transaction Bundles x {args.resources} resources = {total} "
          f"resources, {backend}")
    print(f"ingest over HTTP (validate + map + one atomic save per Bundle): "
          f"{ingest:8.0f} resources/s ({ingest_seconds:.2f} s)")
    if intake_seconds == intake_seconds:  # measured (SQLite only: it needs a second store)
        intake = total / intake_seconds
        print(f"the FHIR intake called in-process (no HTTP, no projection):   "
              f"{intake:8.0f} resources/s ({intake_seconds:.2f} s, ratio {intake / bare:.2f})")
    print(f"bare fhir.resources.R4B validation of the same resources:      "
          f"{bare:8.0f} resources/s")
    print(f"ratio ingest / bare validation: {ingest / bare:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
