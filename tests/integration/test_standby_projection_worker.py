"""On PostgreSQL, a standby projection worker takes over when the active one dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from adapters.bootstrap import Hub
from event_store.projector import Projector
from event_store.readmodel import ReadModel, define_tables
from tests.messages import adt, resident_id


def start_worker(database_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "YYHUB_DATABASE_URL": database_url, "YYHUB_PROJECTION_BATCH_SIZE": "7"}
    return subprocess.Popen([sys.executable, "-m", "adapters.cli", "project"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_until(condition, seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def advisory_locks(hub: Hub) -> int:
    """Advisory locks held in this test's database (others' suites share the server)."""
    with hub.read_model.engine.connect() as conn:
        return int(conn.execute(sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )).scalar())


@pytest.mark.postgres
def test_standby_takes_over_when_the_active_worker_is_killed(postgres_hub: Hub,
                                                             postgres_url: str) -> None:
    hub, database_url = postgres_hub, postgres_url

    def send(start: int, count: int) -> None:
        for i in range(start, start + count):
            hub.hl7.receive(adt(control_id=f"W{i}", mrn=f"W{i}",
                                national_id=resident_id(sequence=f"{i % 500:03d}",
                                                        birth=f"19{30 + i // 500}0101")).encode(),
                            "test")

    send(0, 60)
    active = start_worker(database_url)
    standby = None
    try:
        wait_until(lambda: hub.projector.position() > 0)
        standby = start_worker(database_url)
        wait_until(lambda: advisory_locks(hub) == 1)
        send(60, 60)  # traffic while the active worker runs
        active.send_signal(signal.SIGKILL)
        active.wait()
        send(120, 60)  # traffic after it died: only the standby can project it
        last = hub.app.recorder.max_notification_id()
        wait_until(lambda: hub.projector.position() >= last)
        assert advisory_locks(hub) == 1
    finally:
        for process in (active, standby):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()

    fresh = ReadModel(hub.read_model.engine, define_tables("rebuild_"))
    fresh.create()
    rebuilder = Projector(hub.app, fresh, batch_size=100)
    rebuilder.ensure_tracking()
    rebuilder.catch_up()
    assert hub.read_model.all_profiles() == fresh.all_profiles()
    assert len(fresh.all_profiles()) == 180
