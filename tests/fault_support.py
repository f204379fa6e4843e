"""Fault drills shared by the outage and crash tests and by `bench/faults.py`.

A real `yyhub serve` process (HTTP + MLLP), senders that behave like hospital interfaces (resend
whatever was not acknowledged, honour Retry-After), and an audit of the event store afterwards:
every acknowledged message accepted exactly once, no fact recorded twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from adapters.bootstrap import bootstrap
from adapters.settings import Settings
from tests.care_records import csv_bytes, vital_signs
from tests.messages import resident_id
from tests.private_postgres import free_port

ROOT = Path(__file__).resolve().parents[1]
RESIDENT = "urn:oid:2.16.156.10011.1.3"
HOSPITAL = "DGSY"
CARE_HOME = "DGYL-01"


def oru(i: int, patients: int = 30, prefix: str = "F") -> bytes:
    """An ORU^R01 with three results for one of `patients` elders; control id `{prefix}{i}`."""
    p = i % patients
    national = resident_id("442527", f"19{30 + p % 25:02d}0101", f"{p % 1000:03d}")
    obx = "\r".join(f"OBX|{k}|NM|{8860 + k}-{k}^检验{k}^LN||{70 + (i + k) % 50}|mmol/L|||||F"
                    for k in range(1, 4))
    return (f"MSH|^~\\&|LIS|{HOSPITAL}|YYHUB|CITY|20260301090000+0800||ORU^R01^ORU_R01|"
            f"{prefix}{i}|P|2.5|||||CHN|UNICODE UTF-8\r"
            f"PID|1||M{p}^^^{HOSPITAL}^MR~{national}^^^CHN^NNCHN||病人{p}||19460315|F\r"
            f"OBR|1||R{prefix}{i}|24331-1^血脂^LN|||20260301080000+0800\r{obx}\r").encode()


def fhir_patient(i: int) -> bytes:
    national = resident_id("442527", f"19{30 + i % 25:02d}0202", f"{(500 + i) % 1000:03d}")
    return json.dumps({"resourceType": "Patient", "id": f"fp{i}",
                       "identifier": [{"system": RESIDENT, "value": national}],
                       "name": [{"text": f"赵{i}"}], "gender": "female",
                       "birthDate": "1944-02-02"}, ensure_ascii=False).encode()


def care_file(i: int) -> bytes:
    """A care home's CSV file of two vital-sign records."""
    national = resident_id("442527", "19460315", f"{(700 + i) % 1000:03d}")
    return csv_bytes([vital_signs(f"V{i}-{k}", f"2026-03-0{k + 1} 09:00", 120 + i % 30, 80,
                                  national=national) for k in range(2)])


def register(database_url: str, code: str, role: str) -> str:
    """`yyhub orgs add`, as an operator does; returns the printed key."""
    done = subprocess.run([sys.executable, "-m", "adapters.cli", "orgs", "add", code, "--role",
                           role, "--facility", code], cwd=ROOT, check=True, timeout=120,
                          env={**os.environ, "YYHUB_DATABASE_URL": database_url},
                          capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


@dataclass
class HubProcess:
    """`yyhub serve` (HTTP and MLLP in one process), logging to a file."""

    database_url: str
    log_path: Path
    http_port: int = field(default_factory=free_port)
    mllp_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, deadline_s: float = 120) -> None:
        env = {**os.environ, "YYHUB_DATABASE_URL": self.database_url,
               "YYHUB_PORT": str(self.http_port), "YYHUB_MLLP_PORT": str(self.mllp_port),
               **self.extra_env}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "adapters.cli", "serve"],
                                            cwd=ROOT, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"hub exited with {self.process.returncode}; see "
                                     f"{self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200 and \
                        _listening(self.mllp_port):
                    return
            time.sleep(0.1)
        raise AssertionError("hub did not start in time")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)


def wait_until(condition: Callable[[], bool], deadline_s: float, what: str) -> None:
    """Poll a condition set by another thread or process, failing after a deadline."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Tally:
    """What the senders saw: sent, acknowledged, and the first acknowledgement after a fault."""

    sent: int = 0
    acknowledged: int = 0
    unavailable: int = 0  # 503 answers (each with Retry-After)
    unanswered: int = 0  # sends that got no answer (connection closed, refused or timed out)
    last_ack_at: float = 0.0
    acked_hashes: set[str] = field(default_factory=set)
    acked_message_ids: set[UUID] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self, sha: str = "", message_ids: tuple[UUID, ...] = ()) -> None:
        with self.lock:
            self.acknowledged += 1
            self.last_ack_at = time.monotonic()
            if sha:
                self.acked_hashes.add(sha)
            self.acked_message_ids.update(message_ids)


def send_mllp(port: int, messages: list[bytes], tally: Tally, stop: threading.Event,
              ack_timeout: float = 45) -> None:
    """A hospital interface: one message at a time; no AA means reconnect and resend."""
    sock: socket.socket | None = None
    for raw in messages:
        with tally.lock:
            tally.sent += 1
        while not stop.is_set():
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=ack_timeout)
                sock.sendall(b"\x0b" + raw + b"\x1c\r")
                answer = b""
                while not answer.endswith(b"\x1c\r"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("closed without an ACK")
                    answer += chunk
                msa = answer.split(b"MSA|", 1)[1].split(b"|")[0]
                assert msa == b"AA", answer
                tally.ack(hashlib.sha256(raw).hexdigest())
                break
            except OSError:
                with tally.lock:
                    tally.unanswered += 1
                if sock is not None:
                    sock.close()
                    sock = None
                stop.wait(0.2)  # a real interface waits before reconnecting
    if sock is not None:
        sock.close()


@dataclass(frozen=True)
class HttpSend:
    path: str
    body: bytes
    content_type: str


def send_http(base: str, key: str, requests: list[HttpSend], tally: Tally,
              stop: threading.Event) -> None:
    """An HTTP sender: 2xx is an acknowledgement; 503 waits Retry-After; a dropped connection
    is resent. Anything else is a failure of the hub."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(timeout=60) as client:
        for request in requests:
            with tally.lock:
                tally.sent += 1
            while not stop.is_set():
                try:
                    response = client.post(base + request.path, content=request.body,
                                           headers={**headers,
                                                    "Content-Type": request.content_type})
                except httpx.HTTPError:
                    with tally.lock:
                        tally.unanswered += 1
                    stop.wait(0.2)
                    continue
                if response.status_code == 503:
                    assert response.headers.get("Retry-After"), response.headers
                    with tally.lock:
                        tally.unavailable += 1
                    stop.wait(min(float(response.headers["Retry-After"]), 0.5))
                    continue
                assert response.status_code < 300, (response.status_code, response.text)
                file = request.content_type == "text/csv"
                tally.ack("" if file else hashlib.sha256(request.body).hexdigest(),
                          _message_ids(response))
                break


def _message_ids(response: httpx.Response) -> tuple[UUID, ...]:
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        return tuple(UUID(r["message_id"]) for r in body.get("records", []))
    return ()


def mixed_http(n: int, start: int = 0) -> list[HttpSend]:
    """FHIR Patients and care-home CSV files, alternating."""
    out = []
    for i in range(start, start + n):
        if i % 2:
            out.append(HttpSend("/fhir/Patient", fhir_patient(i), "application/fhir+json"))
        else:
            out.append(HttpSend("/files", care_file(i), "text/csv"))
    return out


@dataclass
class StoreAudit:
    """What the event store holds, decoded event by event."""

    received: int
    accepted: int
    facts: int
    duplicate_acceptances: int  # a message accepted more than once
    duplicate_facts: int  # facts beyond what each message's acceptance counted
    accepted_hashes: set[str]
    accepted_ids: set[UUID]

    def lost(self, tally: Tally) -> int:
        """Acknowledged messages the store does not hold as accepted (HL7 and FHIR by their
        content hash; CSV files record by record, by the message ids their answer named)."""
        return len(tally.acked_hashes - self.accepted_hashes) + \
            len(tally.acked_message_ids - self.accepted_ids)


def audit_store(database_url: str) -> StoreAudit:
    hub = bootstrap(Settings(database_url=database_url))
    try:
        received = accepted = facts = 0
        acceptances: Counter[UUID] = Counter()
        counted: dict[UUID, int] = {}
        facts_by_message: Counter[UUID] = Counter()
        sha_of: dict[UUID, str] = {}
        for n in hub.app.recorder.select_notifications(start=1, limit=10_000_000):
            kind = n.topic.rsplit(".", 1)[-1]
            if kind not in ("Received", "Accepted", "FactsRecorded"):
                continue
            event: Any = hub.app.mapper.to_domain_event(n)
            if kind == "Received":
                received += 1
                sha_of[event.originator_id] = event.sha256
            elif kind == "Accepted":
                accepted += 1
                acceptances[event.originator_id] += 1
                counted[event.originator_id] = counted.get(event.originator_id, 0) + \
                    event.fact_count
            else:
                facts += len(event.facts)
                facts_by_message[event.source.message_id] += len(event.facts)
        duplicate_facts = sum(max(0, have - counted.get(mid, 0))
                              for mid, have in facts_by_message.items())
        return StoreAudit(
            received=received, accepted=accepted, facts=facts,
            duplicate_acceptances=sum(c - 1 for c in acceptances.values() if c > 1),
            duplicate_facts=duplicate_facts,
            accepted_hashes={sha_of[m] for m in acceptances if m in sha_of},
            accepted_ids=set(acceptances))
    finally:
        hub.close()


def projection_caught_up(database_url: str, deadline_s: float = 120) -> float:
    """Seconds until the read model holds every event (polled; the worker runs elsewhere)."""
    hub = bootstrap(Settings(database_url=database_url))
    started = time.monotonic()
    try:
        while time.monotonic() - started < deadline_s:
            head = hub.app.recorder.max_notification_id() or 0
            if hub.projector.position() >= head:
                return time.monotonic() - started
            time.sleep(0.2)
        raise AssertionError("projections did not catch up")
    finally:
        hub.close()


def figures(title: str, tally: Tally, audit: StoreAudit, **extra: Any) -> str:
    lines = [f"== {title} ==",
             f"messages sent       {tally.sent}",
             f"acknowledged (AA/2xx) {tally.acknowledged}",
             f"not answered / 503  {tally.unanswered} / {tally.unavailable} (then resent)",
             f"messages kept       {audit.received} (accepted {audit.accepted}; each CSV file "
             "is kept record by record)",
             f"facts stored        {audit.facts}",
             f"duplicates          {audit.duplicate_acceptances + audit.duplicate_facts}",
             f"lost                {audit.lost(tally)}",
             *(f"{k.replace('_', ' '):<20}{v}" for k, v in extra.items())]
    return "\n".join(lines)
