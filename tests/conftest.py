"""Fixtures: every store-level test runs on a SQLite file and on the local PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.bootstrap import Hub, bootstrap
from adapters.settings import Settings
from tests.private_postgres import PrivatePostgres, binaries, private_postgres

PG_SERVER = os.environ.get("YYHUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"


def drop_postgres_database(name: str) -> None:
    engine = sa.create_engine(f"{PG_SERVER.replace('postgresql://', 'postgresql+psycopg://')}"
                              "/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/hub.db"
        return
    name = f"yyhub_test_{uuid.uuid4().hex[:12]}"
    yield f"{PG_SERVER}/{name}"
    drop_postgres_database(name)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, projection_batch_size=50)


@pytest.fixture
def hub(settings: Settings) -> Iterator[Hub]:
    running = bootstrap(settings)
    yield running
    running.close()


@pytest.fixture
def sqlite_hub(tmp_path: Path) -> Iterator[Hub]:
    """For tests about mapping behaviour, where the backend does not matter."""
    running = bootstrap(Settings(database_url=f"sqlite:///{tmp_path}/hub.db"))
    yield running
    running.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, for behaviour only PostgreSQL has (worker election)."""
    name = f"yyhub_test_{uuid.uuid4().hex[:12]}"
    yield f"{PG_SERVER}/{name}"
    drop_postgres_database(name)


@pytest.fixture
def postgres_hub(postgres_url: str) -> Iterator[Hub]:
    running = bootstrap(Settings(database_url=postgres_url, projection_batch_size=50))
    yield running
    running.close()


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL of this test's own that it may stop and start (never the shared one)."""
    if binaries() is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    with private_postgres() as server:
        yield server
