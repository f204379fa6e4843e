"""Care homes and hospitals hear of every referral step through webhooks, even past outages."""
# ruff: noqa: F811  (the fixtures imported from tests.referral_support are used as arguments)

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.bootstrap import Hub
from tests.referral_support import (  # noqa: F401  (fixtures)
    CARE_HOME,
    HOSPITAL,
    HandClock,
    admit_elder,
    as_org,
    client,
    clock,
    referral_hub,
    request_referral,
)


class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that fails its first `failures` requests."""

    def __init__(self, failures: int):
        self.failures_left = failures
        self.failed = 0
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handle(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    failing = receiver.failures_left > 0
                    if failing:
                        receiver.failures_left -= 1
                        receiver.failed += 1
                    else:
                        receiver.received.append((self.path, self.headers["Idempotency-Key"],
                                                  json.loads(body.decode("utf-8"))))
                self.send_response(503 if failing else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver(failures=5)
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def run_referral_to_the_end(client: TestClient) -> None:
    national, _ = admit_elder(client)
    referral_id = request_referral(client, national)
    for action in ("accept", "arrive", "complete"):
        assert client.post(f"/referrals/{referral_id}/{action}", headers=as_org(HOSPITAL),
                           json={}).status_code == 200
    back = client.post(f"/referrals/{referral_id}/return", headers=as_org(HOSPITAL),
                       json={"discharge_summary": "病情稳定, 出院。"}).json()
    client.post(f"/referrals/{back['referral_id']}/receive", headers=as_org(CARE_HOME), json={})


def deliver_until_done(hub: Hub, clock: HandClock, passes: int = 10) -> None:
    """Dispatcher passes, moving the clock past each backoff instead of waiting for it."""
    hub.projector.catch_up()
    for _ in range(passes):
        hub.referrals.deliver()
        if not hub.referrals.views.deliveries("pending"):
            return
        clock.advance(minutes=30)


def test_receiver_failing_five_times_then_recovering_gets_every_step_exactly_once(
        client: TestClient, referral_hub: Hub, clock: HandClock, receiver: Receiver) -> None:
    for org, path in ((CARE_HOME, "/care-home"), (HOSPITAL, "/hospital")):
        subscribed = client.post("/webhooks", headers=as_org(org),
                                 json={"url": receiver.url(path)})
        assert subscribed.status_code == 201
    assert client.post("/webhooks", headers=as_org(CARE_HOME),
                       json={"url": receiver.url("/care-home")}).status_code == 200
    run_referral_to_the_end(client)

    deliver_until_done(referral_hub, clock)

    outbox = referral_hub.referrals.views.deliveries(limit=1000)
    assert receiver.failed == 5
    assert {d["status"] for d in outbox} == {"delivered"}
    keys = Counter(key for _, key, _ in receiver.received)
    assert set(keys) == {d["delivery_id"] for d in outbox}
    assert set(keys.values()) == {1}
    care_home_events = [p["event"] for path, _, p in receiver.received if path == "/care-home"]
    assert care_home_events == ["referral.requested", "referral.accepted", "referral.arrived",
                                "referral.completed", "referral.returned", "referral.sent",
                                "referral.received"]
    hospital_events = [p["event"] for path, _, p in receiver.received if path == "/hospital"]
    assert hospital_events == care_home_events
    assert all(p["delivery_id"] == key for _, key, p in receiver.received)


def test_deliveries_that_keep_failing_are_parked_and_kept_until_retried(
        client: TestClient, referral_hub: Hub, clock: HandClock) -> None:
    broken = Receiver(failures=10_000)
    broken.thread.start()
    try:
        client.post("/webhooks", headers=as_org(CARE_HOME), json={"url": broken.url("/in")})
        national, _ = admit_elder(client)
        request_referral(client, national)
        deliver_until_done(referral_hub, clock)

        parked = client.get("/webhooks/deliveries", params={"status": "parked"}).json()
        assert [(d["event_type"], d["attempts"]) for d in parked] == [("referral.requested", 10)]
        assert parked[0]["last_error"] == "HTTP 503"

        broken.failures_left = 0
        retried = client.post(f"/webhooks/deliveries/{parked[0]['delivery_id']}/retry")
        assert retried.status_code == 202
        deliver_until_done(referral_hub, clock)
        assert [key for _, key, _ in broken.received] == [parked[0]["delivery_id"]]
        assert client.get("/webhooks/deliveries", params={"status": "parked"}).json() == []
    finally:
        broken.server.shutdown()
        broken.server.server_close()


def test_rebuilding_the_read_model_sends_nothing_twice(
        client: TestClient, referral_hub: Hub, clock: HandClock, receiver: Receiver) -> None:
    national, _ = admit_elder(client)
    early = request_referral(client, national, number="EARLY")
    client.post("/webhooks", headers=as_org(CARE_HOME), json={"url": receiver.url("/in")})
    request_referral(client, national, number="LATER")
    deliver_until_done(referral_hub, clock)
    worklist = referral_hub.referrals.views.worklist(CARE_HOME, "out")
    outbox = referral_hub.referrals.views.deliveries(limit=1000)

    referral_hub.read_model.drop()
    referral_hub.read_model.create()
    referral_hub.projector.ensure_tracking()
    referral_hub.projector.catch_up()

    assert referral_hub.referrals.views.worklist(CARE_HOME, "out") == worklist
    assert referral_hub.referrals.views.deliveries(limit=1000) == outbox
    assert [p["number"] for _, _, p in receiver.received] == ["LATER"]
    assert early not in {p["referral_id"] for _, _, p in receiver.received}


def test_two_dispatchers_never_send_the_same_delivery_at_the_same_moment(
        client: TestClient, referral_hub: Hub, clock: HandClock) -> None:
    client.post("/webhooks", headers=as_org(CARE_HOME), json={"url": "http://127.0.0.1:9/x"})
    national, _ = admit_elder(client)
    request_referral(client, national)
    referral_hub.projector.catch_up()
    views = referral_hub.referrals.views
    (delivery,) = views.deliveries("pending")
    now = clock.now()
    assert views.lease(delivery["delivery_id"], now, now.replace(hour=now.hour + 1))
    assert not views.lease(delivery["delivery_id"], now, now.replace(hour=now.hour + 1))
    assert referral_hub.referrals.deliver().failed == 0  # the other dispatcher holds it
    clock.advance(hours=2)
    assert views.lease(delivery["delivery_id"], clock.now(), clock.now())  # its lease ran out
