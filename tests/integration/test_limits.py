"""Limits at every door: a body too large is refused (413) before it is held in memory, JSON
nested too deep is refused with a reason, an MLLP sender that stalls is disconnected, and
connections beyond the cap are closed at once — each one logged and counted for /metrics."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hl7.client import MLLPClient

from adapters.api.app import create_app
from adapters.bootstrap import Hub
from adapters.hl7v2.mllp import MLLP_FAULTS
from tests.api import as_sender, register
from tests.api import headers as key_headers
from tests.messages import adt
from tests.mllp_helpers import ack_code, exchange, running_listener

LIMIT = 64 * 1024


@pytest.fixture
def client(sqlite_hub: Hub) -> Iterator[TestClient]:
    sqlite_hub.settings.http_max_body_bytes = LIMIT
    with TestClient(create_app(hub=sqlite_hub, background_worker=False)) as c:
        yield c


def closed_by_server(sock: socket.socket, deadline_s: float) -> bool:
    """True once the server closes the connection (recv gives b''), polled to a deadline."""
    sock.settimeout(deadline_s)
    try:
        return sock.recv(1024) == b""
    except (TimeoutError, ConnectionResetError):
        return False


def test_a_file_over_the_size_limit_is_refused_with_413_and_nothing_is_kept(
        client: TestClient, sqlite_hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    care_home = as_sender(sqlite_hub, "DGYL-01", "care_home")
    hospital = as_sender(sqlite_hub, "DGSY")
    before = sqlite_hub.app.recorder.max_notification_id()
    with caplog.at_level(logging.WARNING):
        declared = client.post("/files", content=b"x" * (LIMIT + 1),
                               headers={**care_home, "Content-Type": "text/csv"})
        streamed = client.post("/hl7v2", content=iter([b"MSH|" + b"x" * 8192] * 20),
                               headers=hospital)
    assert declared.status_code == streamed.status_code == 413
    assert "larger than the limit" in declared.json()["detail"]
    assert sqlite_hub.app.recorder.max_notification_id() == before
    assert "request-too-large" in caplog.text


def test_json_nested_ten_thousand_deep_is_refused_with_a_reason_at_every_json_door(
        client: TestClient, sqlite_hub: Hub) -> None:
    deep = b"[" * 10_000 + b"]" * 10_000
    hospital = as_sender(sqlite_hub, "DGSY")
    care_home = as_sender(sqlite_hub, "DGYL-01", "care_home")
    for path, kind, sender in (("/fhir/Patient", "application/fhir+json", hospital),
                               ("/referrals", "application/json", hospital),
                               ("/care-logs", "text/plain", care_home)):
        answer = client.post(path, content=deep, headers={**sender, "Content-Type": kind})
        assert answer.status_code in (400, 422), (path, answer.status_code)
        assert "deeper than" in answer.text, path


def test_a_fhir_body_nested_too_deep_is_kept_as_rejected_with_its_reason(
        client: TestClient, sqlite_hub: Hub) -> None:
    deep = b'{"resourceType": "Bundle", "type": "transaction", "entry": ' + b"[" * 100 \
        + b"]" * 100 + b"}"
    answer = client.post("/fhir", content=deep, headers={
        **as_sender(sqlite_hub, "DGSY"), "Content-Type": "application/fhir+json"})
    assert answer.status_code == 400
    assert answer.json()["resourceType"] == "OperationOutcome"
    assert "deeper than" in answer.text
    kept = [n for n in sqlite_hub.app.recorder.select_notifications(start=1, limit=100)
            if n.topic.endswith("InboundMessage.Rejected")]
    assert len(kept) == 1
    message = sqlite_hub.app.repository.get(kept[0].originator_id)
    assert message.problems[0].code == "json-too-deep"
    assert sqlite_hub.app.raw_message(message.id) == deep  # as sent, byte for byte


def test_a_care_log_nested_too_deep_is_kept_as_rejected_with_its_reason(
        client: TestClient, sqlite_hub: Hub) -> None:
    deep = b'{"records": ' + b"[" * 100 + b"]" * 100 + b"}"
    answer = client.post("/care-logs", content=deep, headers={
        **as_sender(sqlite_hub, "DGYL-01", "care_home"), "Content-Type": "application/json"})
    assert answer.status_code in (400, 422)
    assert "deeper than" in answer.text
    kept = [n for n in sqlite_hub.app.recorder.select_notifications(start=1, limit=100)
            if n.topic.endswith("InboundMessage.Rejected")]
    assert len(kept) == 1
    message = sqlite_hub.app.repository.get(kept[0].originator_id)
    assert "deeper than" in message.problems[0].message
    assert sqlite_hub.app.raw_message(message.id) == deep  # as sent, byte for byte


def test_a_stalled_mllp_sender_is_disconnected_and_the_next_one_is_served(
        sqlite_hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    closed_before = MLLP_FAULTS["idle_closed"]
    with caplog.at_level(logging.WARNING), \
            running_listener(sqlite_hub, idle_timeout=0.5) as listener:
        stalled = socket.create_connection(("127.0.0.1", listener.port))
        stalled.sendall(b"\x0bMSH|^~\\&|HIS|DGSY|")  # half a message, then nothing
        started = time.monotonic()
        assert closed_by_server(stalled, 10)
        assert time.monotonic() - started < 5
        stalled.close()
        with MLLPClient("127.0.0.1", listener.port) as client:
            assert ack_code(exchange(client, adt(control_id="IDLE1").encode())) == "AA"
    assert MLLP_FAULTS["idle_closed"] > closed_before
    assert "nothing received" in caplog.text


def test_connections_beyond_the_cap_are_closed_and_those_within_it_keep_working(
        sqlite_hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), \
            running_listener(sqlite_hub, max_connections=2) as listener:
        first = MLLPClient("127.0.0.1", listener.port)
        second = MLLPClient("127.0.0.1", listener.port)
        assert ack_code(exchange(first, adt(control_id="CAP1").encode())) == "AA"
        assert ack_code(exchange(second, adt(control_id="CAP2").encode())) == "AA"
        third = socket.create_connection(("127.0.0.1", listener.port))
        assert closed_by_server(third, 10)
        third.close()
        assert ack_code(exchange(first, adt(control_id="CAP3").encode())) == "AA"
        first.close()
        second.close()
    assert "already 2 connections" in caplog.text


def test_operators_see_refusals_and_unacknowledged_messages_in_metrics(
        client: TestClient, sqlite_hub: Hub) -> None:
    operator = register(sqlite_hub, "OPS", "admin")
    text = client.get("/metrics", headers=key_headers(operator)).text
    for series in ('yyhub_mllp_faults{kind="unacknowledged"}', 'yyhub_mllp_faults{kind="idle_closed"}',
                   'yyhub_http_refused{reason="too_large"}',
                   'yyhub_http_refused{reason="database_unavailable"}',
                   "yyhub_transient_retries", "yyhub_projection_lag_events",
                   'yyhub_inbound_messages'):
        assert series in text, series
