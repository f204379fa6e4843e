"""Acceptance 2: the hub (`yyhub serve`, HTTP and MLLP) is SIGKILLed at random moments while a
hospital streams HL7 over MLLP and a care home posts FHIR resources and CSV files; every sender
resends what was not acknowledged. Nothing is lost, nothing doubled, and the read models equal a
rebuild from zero. CI kills three times; `bench/faults.py` runs it with ten."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

from adapters.bootstrap import bootstrap
from adapters.settings import Settings
from event_store.projector import Projector
from event_store.readmodel import ReadModel, define_tables
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

KILLS = int(os.environ.get("YYHUB_CRASH_KILLS", "3"))
MLLP_MESSAGES = int(os.environ.get("YYHUB_CRASH_MLLP", str(60 * KILLS + 60)))
HTTP_REQUESTS = int(os.environ.get("YYHUB_CRASH_HTTP", str(20 * KILLS + 20)))
SEED = int(os.environ.get("YYHUB_CRASH_SEED", "11"))


def test_repeated_sigkill_loses_nothing_doubles_nothing(postgres_url: str,
                                                        tmp_path: Path) -> None:
    chance = random.Random(SEED)
    register(postgres_url, HOSPITAL, "hospital")
    care_home = register(postgres_url, CARE_HOME, "care_home")
    hub = HubProcess(postgres_url, tmp_path / "hub.log")
    hub.start()
    tally, stop = Tally(), threading.Event()
    senders = [
        threading.Thread(target=send_mllp, args=(hub.mllp_port, [oru(i, prefix="C") for i in
                                                                 range(MLLP_MESSAGES)], tally,
                                                  stop)),
        threading.Thread(target=send_http, args=(hub.base, care_home, mixed_http(
            HTTP_REQUESTS), tally, stop)),
    ]
    kills = 0
    recoveries: list[float] = []
    try:
        for sender in senders:
            sender.start()
        total = MLLP_MESSAGES + HTTP_REQUESTS
        for _ in range(KILLS):
            # a random moment: after a random number of further acknowledgements
            target = min(tally.acknowledged + chance.randint(3, 40), total - 5)
            wait_until(lambda t=target: tally.acknowledged >= t, 120, "acknowledgements")
            hub.kill()
            killed_at = time.monotonic()
            kills += 1
            hub.start()
            wait_until(lambda k=killed_at: tally.last_ack_at > k, 120, "the first ACK after")
            recoveries.append(tally.last_ack_at - killed_at)
        for sender in senders:
            sender.join(300)
            assert not sender.is_alive(), "a sender did not finish"
        caught_up_in = projection_caught_up(postgres_url)
    finally:
        stop.set()
        hub.stop()

    audit = audit_store(postgres_url)
    print("\n" + figures(f"{kills} SIGKILLs during mixed traffic", tally, audit,
                         time_to_recover=f"{max(recoveries):.2f} s at most, "
                                         f"{sum(recoveries) / len(recoveries):.2f} s on average "
                                         "(kill to the first acknowledgement after restart)",
                         projection_catch_up=f"{caught_up_in:.2f} s"))
    assert kills == KILLS
    assert tally.acknowledged == tally.sent == MLLP_MESSAGES + HTTP_REQUESTS
    assert audit.duplicate_acceptances == 0 and audit.duplicate_facts == 0
    assert audit.lost(tally) == 0

    running = bootstrap(Settings(database_url=postgres_url))
    try:
        fresh = ReadModel(running.read_model.engine, define_tables("rebuild_"))
        fresh.create()
        rebuilder = Projector(running.app, fresh, batch_size=37)
        rebuilder.ensure_tracking()
        rebuilder.catch_up()
        live = running.read_model.all_profiles()
        assert live == fresh.all_profiles()
        assert len(live) > 0
        for elder_id in live:
            assert running.read_model.timeline(elder_id) == fresh.timeline(elder_id)
        assert running.read_model.inbound_counts() == fresh.inbound_counts()
    finally:
        running.close()
