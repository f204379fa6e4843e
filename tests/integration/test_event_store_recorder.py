"""The hub's PostgreSQL recorder passes eventsourcing's own recorder test cases.

`event_store/pg_recorder.py` replaces how the library's recorder sends a save's events (four
binary arrays instead of a text-encoded composite array). These are the library's tests for its
recorders — insert and select, notification order, concurrent writers, non-interleaved ids —
run unchanged against the hub's class on the local PostgreSQL.
"""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.tests.persistence import (
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
)

from adapters.bootstrap import Hub
from event_store.persistence import prepare_database
from event_store.pg_recorder import BinaryArrayRecorder
from tests.conftest import PG_SERVER, drop_postgres_database

pytestmark = pytest.mark.postgres


class _OnFreshDatabase:
    """A database of the test's own, dropped afterwards."""

    def setUp(self) -> None:
        self.database = f"yyhub_test_{uuid.uuid4().hex[:12]}"
        prepare_database(f"{PG_SERVER}/{self.database}")
        self.datastores: list[PostgresDatastore] = []

    def tearDown(self) -> None:
        for datastore in self.datastores:
            datastore.close()
        drop_postgres_database(self.database)

    def create_recorder(self) -> BinaryArrayRecorder:
        datastore = PostgresDatastore(dbname=self.database, host="127.0.0.1", port="5432",
                                      user="postgres", password="")
        self.datastores.append(datastore)
        recorder = BinaryArrayRecorder(datastore, events_table_name="stored_events")
        recorder.create_table()
        return recorder


class TestHubRecorderAsTheLibraryTestsItsOwn(_OnFreshDatabase,
                                             ApplicationRecorderTestCase[BinaryArrayRecorder]):
    # Timings printed by the library, not assertions; speed is measured under bench/.
    test_performance = None  # type: ignore[assignment]
    test_concurrent_throughput = None  # type: ignore[assignment]


class TestConcurrentSavesGetNonInterleavedPositions(_OnFreshDatabase,
                                                     NonInterleavingNotificationIDsBaseCase):
    pass


def test_the_hub_on_postgresql_saves_through_this_recorder(postgres_hub: Hub) -> None:
    assert type(postgres_hub.app.recorder) is BinaryArrayRecorder


def test_the_events_table_does_not_try_to_compress_encrypted_states(postgres_hub: Hub) -> None:
    """Personal data are stored encrypted, which never compresses: PostgreSQL is told not to
    try (the column's storage is EXTERNAL), and opening the store again leaves it so."""
    recorder = postgres_hub.app.recorder
    assert isinstance(recorder, BinaryArrayRecorder)
    recorder.create_table()  # a second process opening the same store
    with recorder.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT attstorage FROM pg_attribute WHERE attname = 'state' AND "
                     "attrelid = %s::regclass", (f"public.{recorder.events_table_name}",))
        row = curs.fetchone()
    assert row is not None and row["attstorage"] == "e"
