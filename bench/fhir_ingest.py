"""Bench: FHIR transaction ingest over HTTP against bare `fhir.resources.R4B` validation.

Generates Synthea-size transaction Bundles (one elder and a few hundred resources each: visits,
vital signs with blood-pressure components, labs, diagnoses, prescriptions, procedures,
vaccines), posts them to `yyhub serve --no-worker --workers N` on a fresh PostgreSQL database
(one sender for one worker, three per worker for several), then runs the projection over
what was taken in, and prints resources/s next to the rate of validating the same resources
with the R4 models alone on one core, measured in the same run.

Both figures are taken in turns so that both see the same moments of a machine whose speed
drifts (on the 2-core VM this was written on, bare validation alone ranged from 3,400 to
8,700 resources/s within a minute): bare validation of one round's resources, then that
round's Bundles posted (five rounds of different Bundles), and bare validation once more at
the end. The ratio compares the medians (ingest rounds against floor timings); the best of
each, and every timing, are printed beside it.

    python bench/fhir_ingest.py [--bundles 12] [--resources 300] [--workers 1 2]

Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from stdnum.cn import ric

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from bench.floors import checkpoint  # noqa: E402

SERVER = "postgresql://postgres@127.0.0.1:5432"
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


@contextmanager
def yyhub_serve(database_url: str, workers: int = 1) -> Iterator[str]:
    """`yyhub serve --no-worker` in its own process(es) on a free port; yields the base URL once
    it answers. The projection runs apart (`yyhub project`), as at a deployment under load."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "YYHUB_DATABASE_URL": database_url}
    server = subprocess.Popen([sys.executable, "-c", "from adapters.cli import main; main()",
                               "serve", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", str(workers), "--no-worker", "--mllp-port", "0"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def http_ingest_seconds(database_url: str, rounds: list[list[bytes]], rng: random.Random,
                        workers: int = 1, clients: int = 1,
                        before_each: Callable[[], None] = lambda: None) -> list[float]:
    """POST each round of Bundles to `yyhub serve --workers N` from `clients` senders at once;
    each round's seconds from its first POST to its last answer (every Bundle must be
    accepted). `before_each` runs before each round, while the server waits."""
    key = register_hospital(database_url)
    headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {key}"}
    refused: list[str] = []

    def send(base: str, part: list[bytes]) -> None:
        # The standard library's client on one kept-alive connection (it sets TCP_NODELAY):
        # each sender waits for every answer, so its own time counts against the hub; httpx
        # took about 1.1 ms of CPU a Bundle, this takes 0.35.
        address = urlsplit(base)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=300)
        try:
            for body in part:
                connection.request("POST", "/fhir", body=body, headers=headers)
                answer = connection.getresponse()
                text = answer.read()
                if answer.status != 200:
                    refused.append(text[:1000].decode("utf-8", "replace"))
        finally:
            connection.close()

    seconds = []
    with yyhub_serve(database_url, workers) as base:
        # Each worker's first requests pay for imports and connections: warm them all (the
        # kernel hands connections to whichever worker accepts first, so send several rounds).
        # The pools hand out their five connections in turn, and psycopg prepares a statement
        # on a connection's fifth use of it: eight rounds reach that on every connection (with
        # three, the first Bundles measured were a tenth slower than the rest).
        for round_ in range(8):
            warm = [json.dumps(bundle(10_000 + 10 * round_ + k, 100, rng)).encode()
                    for k in range(2 * workers)]
            _in_parallel(send, base, warm, 2 * workers)
        for bodies in rounds:
            before_each()
            checkpoint(database_url)
            began = time.perf_counter()
            _in_parallel(send, base, bodies, clients)
            seconds.append(time.perf_counter() - began)
    if refused:
        raise SystemExit(f"ingest refused a Bundle: {refused[0]}")
    return seconds


def _in_parallel(send: Any, base: str, bodies: list[bytes], clients: int) -> None:
    threads = [threading.Thread(target=send, args=(base, bodies[k::clients]))
               for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def projection_seconds(database_url: str) -> float:
    """The projection through everything ingested so far, in-process: seconds to catch up."""
    from adapters.bootstrap import bootstrap
    from adapters.settings import Settings

    hub = bootstrap(Settings(database_url=database_url))
    try:
        began = time.perf_counter()
        hub.projector.catch_up()
        return time.perf_counter() - began
    finally:
        hub.close()


def senders_for(workers: int) -> int:
    """Senders at once: one for one worker; for several, three each, since each sender keeps
    one connection and the workers take connections as they come, not by load."""
    return 1 if workers == 1 else 3 * workers


def run(rounds: list[list[bytes]], resources_per_round: int, rng: random.Random,
        workers: int, clients: int, before_each: Callable[[], None] = lambda: None
        ) -> dict[str, Any]:
    """HTTP ingest of each round into one fresh PostgreSQL database, then the projection of
    everything; resources/s of each round and their median."""
    name = f"yyhub_bench_fhir_{uuid.uuid4().hex[:6]}"
    url = f"{SERVER}/{name}"
    try:
        seconds = http_ingest_seconds(url, rounds, rng, workers, clients, before_each)
        projected = projection_seconds(url)
    finally:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    rates = [resources_per_round / s for s in seconds]
    return {"workers": workers, "clients": clients, "resources": resources_per_round,
            "rates": rates, "rate": statistics.median(rates), "projection_seconds": projected,
            "projection_rate": resources_per_round * len(rounds) / projected}


def bare_validation_rate(bundles: list[dict[str, Any]], rounds: int = 3) -> float:
    """Resources/s for `model_validate` of every entry's resource alone (best of `rounds`)."""
    from bench.floors import r4b_validation_rate

    return r4b_validation_rate([e["resource"] for b in bundles for e in b["entry"]], rounds)


ROUNDS = 5  # ingest on PostgreSQL swings more than bare validation; five rounds steady the median


def whole_bundle_validation_rate(bodies: list[bytes]) -> float:
    """Resources/s for `Bundle.model_validate_json` of each posted body (for scale only)."""
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate_json(bodies[0])  # the first Bundle read builds the library's caches
    began = time.perf_counter()
    count = sum(len(Bundle.model_validate_json(body).entry or ()) for body in bodies)
    return count / (time.perf_counter() - began)


def rounds_of(count: int, size: int, rng: random.Random, rounds: int = ROUNDS
              ) -> list[list[dict[str, Any]]]:
    """`rounds` lists of `count` Bundles, each about a different elder."""
    return [[bundle(r * count + n, size, rng) for n in range(1, count + 1)]
            for r in range(rounds)]


def measure(count: int, size: int, workers: list[int], report: Any = print
            ) -> dict[str, Any]:
    """For each worker count: bare validation and ingest in turns, `ROUNDS` rounds, then bare
    validation once more; the median of each, and their ratio."""
    rng = random.Random(4)
    bundle_rounds = rounds_of(count, size, rng)
    bodies = [[json.dumps(b, ensure_ascii=False).encode() for b in r] for r in bundle_rounds]
    per_round = sum(len(b["entry"]) for b in bundle_rounds[0])
    report(f"{count} transaction Bundles x {size} resources = {per_round} resources a round, "
           f"{ROUNDS} rounds, PostgreSQL; bare R4B validation of a round's resources on one core "
           "before each round and after the last")
    bare_validation_rate(bundle_rounds[0][:2], rounds=1)  # first use imports the models
    whole = whole_bundle_validation_rate(bodies[0])
    report(f"for scale: fhir.resources reading each posted Bundle whole "
           f"(Bundle.model_validate_json) validates {whole:.0f} resources/s; the floor below "
           "validates each resource alone from parsed JSON, the fastest way the library offers")
    results = []
    for w in workers:
        floors: list[float] = []

        def time_floor(floors: list[float] = floors) -> None:
            floors.append(bare_validation_rate(bundle_rounds[len(floors) % ROUNDS], rounds=1))

        r = run(bodies, per_round, rng, w, senders_for(w), before_each=time_floor)
        time_floor()
        r["floors"], r["floor"] = floors, statistics.median(floors)
        results.append(r)
        report(f"bare validation, one core: {' '.join(f'{f:.0f}' for f in floors)} resources/s "
               f"-> median {r['floor']:.0f}")
        report(f"ingest over HTTP, {w} worker(s), {r['clients']} sender(s): rounds "
               f"{' '.join(f'{x:.0f}' for x in r['rates'])} resources/s -> median "
               f"{r['rate']:.0f}; ratio {r['rate'] / r['floor']:.2f} "
               f"({r['rate'] / r['floor'] / w:.2f} per worker; best against best "
               f"{max(r['rates']) / max(floors):.2f}); projection afterwards "
               f"{r['projection_rate']:.0f} resources/s")
    return {"runs": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=12, help="Bundles per round")
    parser.add_argument("--resources", type=int, default=300, help="resources per bundle")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="HTTP worker counts to measure")
    args = parser.parse_args()
    measure(args.bundles, args.resources, args.workers)
    print("target: ingest >= 0.5 x bare validation")


if __name__ == "__main__":
    main()
