"""A projection worker killed part-way resumes to exactly what a rebuild from zero gives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from adapters.bootstrap import Hub
from event_store.projector import Projector
from event_store.readmodel import ReadModel, define_tables
from tests.messages import adt, resident_id

AL1 = "AL1|1|DA|PEN^青霉素^L|SV|皮疹"


def test_killed_worker_restarted_equals_rebuild_from_zero(hub: Hub, database_url: str) -> None:
    for i in range(120):
        national = resident_id(sequence=f"{i % 500:03d}", birth=f"19{30 + i % 50}0101")
        hub.hl7.receive(adt(control_id=f"K{i}", national_id=national, mrn=f"K{i}",
                            extra=(AL1,)).encode(), "test")
    last = hub.app.recorder.max_notification_id()

    env = {**os.environ, "YYHUB_DATABASE_URL": database_url, "YYHUB_PROJECTION_BATCH_SIZE": "5"}
    worker = subprocess.Popen([sys.executable, "-m", "adapters.cli", "project"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while hub.projector.position() < last // 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    killed_at = hub.projector.position()
    assert 0 < killed_at < last, "the worker should be killed part-way"

    hub.projector.catch_up()
    assert hub.projector.position() == last
    fresh = ReadModel(hub.read_model.engine, define_tables("rebuild_"))
    fresh.create()
    rebuilder = Projector(hub.app, fresh, batch_size=37)
    rebuilder.ensure_tracking()
    rebuilder.catch_up()
    live_profiles, rebuilt_profiles = hub.read_model.all_profiles(), fresh.all_profiles()
    assert len(live_profiles) == 120
    assert live_profiles == rebuilt_profiles
    for elder_id in live_profiles:
        assert hub.read_model.timeline(elder_id) == fresh.timeline(elder_id)
