"""A regulator can prove nothing was altered: the seal names the first tampered position."""

from __future__ import annotations

import os
import subprocess
import sys

import sqlalchemy as sa

from adapters.bootstrap import Hub
from event_store.persistence import is_postgres
from tests.messages import adt, resident_id


def fill(hub: Hub, n: int = 6) -> None:
    for i in range(n):
        hub.hl7.receive(adt(control_id=f"S{i}", national_id=resident_id(sequence=f"{41 + 2 * i:03d}"),
                            mrn=f"S{i}").encode(), "test")


def id_column(database_url: str) -> str:
    return "notification_id" if is_postgres(database_url) else "rowid"


def yyhub_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "adapters.cli", "verify"],
                          env={**os.environ, "YYHUB_DATABASE_URL": database_url, "COLUMNS": "200"},
                          capture_output=True, text=True, timeout=120)


def test_one_changed_byte_is_named_by_yyhub_verify(hub: Hub, database_url: str) -> None:
    fill(hub)
    hub.sealer.seal_new()
    assert yyhub_verify(database_url).returncode == 0
    target = hub.app.recorder.max_notification_id() - 3
    table, column = hub.app.recorder.events_table_name, id_column(database_url)
    with hub.read_model.engine.begin() as conn:
        state = conn.execute(sa.text(f"SELECT state FROM {table} WHERE {column} = :p"),
                             {"p": target}).scalar_one()
        altered = bytearray(state)
        altered[len(altered) // 2] ^= 0x01
        conn.execute(sa.text(f"UPDATE {table} SET state = :s WHERE {column} = :p"),
                     {"s": bytes(altered), "p": target})
    result = yyhub_verify(database_url)
    assert result.returncode == 1
    assert f"NOT INTACT at position {target}" in result.stdout
    assert "altered" in result.stdout


def test_a_deleted_event_is_detected(hub: Hub, database_url: str) -> None:
    fill(hub)
    hub.sealer.seal_new()
    target = hub.app.recorder.max_notification_id() - 5
    table, column = hub.app.recorder.events_table_name, id_column(database_url)
    with hub.read_model.engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {table} WHERE {column} = :p"), {"p": target})
    result = hub.sealer.verify()
    assert (result.intact, result.position) == (False, target)
    assert "missing" in result.problem


def test_an_intact_log_verifies_and_reports_unsealed_events(hub: Hub) -> None:
    fill(hub, 3)
    sealed = hub.sealer.seal_new()
    fill(hub, 4)  # the first three are resends; one new message arrives after the seal
    result = hub.sealer.verify()
    assert result.intact and result.sealed == sealed
    assert result.unsealed > 0
