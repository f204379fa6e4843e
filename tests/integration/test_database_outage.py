"""Acceptance 1: PostgreSQL stops while hospitals send over MLLP and HTTP. The hub acknowledges
nothing it has not committed (MLLP: no ACK, the connection closes; HTTP: 503 + Retry-After),
recovers by itself when the database returns, and every acknowledged message is stored once."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx

from tests.fault_support import (
    CARE_HOME,
    HOSPITAL,
    HubProcess,
    Tally,
    audit_store,
    figures,
    mixed_http,
    oru,
    projection_caught_up,
    register,
    send_http,
    send_mllp,
    wait_until,
)
from tests.private_postgres import PrivatePostgres

OUTAGE_SECONDS = float(os.environ.get("YYHUB_OUTAGE_SECONDS", "15"))  # bench: 30
MLLP_MESSAGES = int(os.environ.get("YYHUB_OUTAGE_MLLP", "200"))
HTTP_REQUESTS = int(os.environ.get("YYHUB_OUTAGE_HTTP", "60"))


def test_database_outage_loses_nothing_and_recovers_without_restart(
        private_pg: PrivatePostgres, tmp_path: Path) -> None:
    url = f"{private_pg.url}/yyhub_outage"
    register(url, HOSPITAL, "hospital")
    care_home = register(url, CARE_HOME, "care_home")
    operator = register(url, "OPS", "admin")
    hub = HubProcess(url, tmp_path / "hub.log")
    hub.start()
    tally, stop = Tally(), threading.Event()
    senders = [
        threading.Thread(target=send_mllp, args=(hub.mllp_port, [oru(i) for i in range(
            MLLP_MESSAGES)], tally, stop)),
        threading.Thread(target=send_http, args=(hub.base, care_home, mixed_http(
            HTTP_REQUESTS), tally, stop)),
    ]
    try:
        for sender in senders:
            sender.start()
        wait_until(lambda: tally.acknowledged >= 30, 60, "traffic to flow")

        private_pg.stop()  # fast shutdown: every connection the hub holds is cut
        stopped_at = time.monotonic()
        acks_at_stop = tally.acknowledged
        wait_until(lambda: time.monotonic() - stopped_at >= OUTAGE_SECONDS, OUTAGE_SECONDS + 5,
                   "the outage to last")
        acks_in_outage = tally.acknowledged - acks_at_stop
        felt = tally.unanswered + tally.unavailable

        private_pg.start()
        restarted_at = time.monotonic()
        wait_until(lambda: tally.last_ack_at > restarted_at, 120, "the first acknowledgement")
        recovered_in = tally.last_ack_at - restarted_at
        for sender in senders:
            sender.join(300)
            assert not sender.is_alive(), "a sender did not finish"
        assert hub.process is not None and hub.process.poll() is None, "the hub died"
        caught_up_in = projection_caught_up(url)
        metrics = httpx.get(f"{hub.base}/metrics", timeout=30,
                            headers={"Authorization": f"Bearer {operator}"}).text
    finally:
        stop.set()
        hub.stop()

    audit = audit_store(url)
    print("\n" + figures(f"database outage of {OUTAGE_SECONDS:.0f} s", tally, audit,
                         acks_during_outage=acks_in_outage,
                         time_to_recover=f"{recovered_in:.2f} s after the database returned",
                         projection_catch_up=f"{caught_up_in:.2f} s"))
    assert felt > 0, "the senders should have met the outage"
    assert acks_in_outage <= 2, "only messages committed before the stop may be answered late"
    assert tally.acknowledged == tally.sent == MLLP_MESSAGES + HTTP_REQUESTS
    assert audit.duplicate_acceptances == 0 and audit.duplicate_facts == 0
    assert audit.lost(tally) == 0
    retries = next(float(line.split()[-1]) for line in metrics.splitlines()
                   if line.startswith("yyhub_transient_retries"))
    assert retries > 0, "the bounded retries are counted for the alerts"
