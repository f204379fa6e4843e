"""Floors measured in the same run as a figure: what the bare parts can do with the same bytes.

Every figure the suite prints stands beside one of these, measured on the same machine in the
same run: raw and batched INSERT of the same bytes (SQLite or PostgreSQL), bare hl7apy and bare
split parse of the same messages, bare `fhir.resources.R4B` validation, a trivial FastAPI
endpoint under the same load generator.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]


def _pg_dsn(database_url: str) -> str:
    url = make_url(database_url)
    dsn = (f"host={url.host or '127.0.0.1'} port={url.port or 5432} "
           f"user={url.username or 'postgres'} dbname={url.database}")
    return dsn + (f" password={url.password}" if url.password else "")


def _insert_rate(database_url: str, payloads: list[bytes], per_transaction: int) -> float:
    url = make_url(database_url)
    batches = [payloads[i:i + per_transaction] for i in range(0, len(payloads), per_transaction)]
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "").with_name("floor.db")
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS floor (id INTEGER PRIMARY KEY, payload BLOB)")
        start = time.perf_counter()
        for batch in batches:
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO floor (payload) VALUES (?)", [(p,) for p in batch])
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
        conn.close()
        path.unlink(missing_ok=True)
        return len(payloads) / elapsed
    with psycopg.connect(_pg_dsn(database_url), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_floor")
        conn.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, payload bytea)")
        start = time.perf_counter()
        for batch in batches:
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany("INSERT INTO bench_floor (payload) VALUES (%s)",
                                   [(p,) for p in batch])
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE bench_floor")
    return len(payloads) / elapsed


def checkpoint(database_url: str) -> None:
    """Write out what earlier phases left in PostgreSQL's WAL before a phase starts, so one
    phase's writes do not slow the next one's commits through a checkpoint (PostgreSQL only)."""
    if make_url(database_url).get_backend_name() != "postgresql":
        return
    with psycopg.connect(_pg_dsn(database_url), autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def raw_insert_rate(database_url: str, payloads: list[bytes]) -> float:
    """Rows per second, one row per transaction, on the backend the URL names."""
    return _insert_rate(database_url, payloads, 1)


def batched_insert_rate(database_url: str, payloads: list[bytes], per_transaction: int = 100
                        ) -> float:
    """Rows per second, `per_transaction` rows per transaction (the ceiling for batching)."""
    return _insert_rate(database_url, payloads, per_transaction)


def split_parse_rate(messages: list[bytes]) -> float:
    """Messages/s for the barest parse: segments by CR, fields by `|`, components by `^`."""
    start = time.perf_counter()
    for raw in messages:
        for segment in raw.decode("utf-8").split("\r"):
            [field.split("^") for field in segment.split("|")]
    return len(messages) / (time.perf_counter() - start)


def hl7apy_parse_rate(messages: list[bytes], limit: int = 300) -> float:
    """Messages/s for hl7apy's `parse_message` (its full object tree), on up to `limit`."""
    from hl7apy.parser import parse_message

    sample = [m.decode("utf-8").replace("\n", "\r") for m in messages[:limit]]
    start = time.perf_counter()
    for text in sample:
        parse_message(text, find_groups=False)
    return len(sample) / (time.perf_counter() - start)


def r4b_validation_rate(resources: list[dict[str, Any]], rounds: int = 3) -> float:
    """Resources/s for `model_validate` of each resource alone (best of `rounds`)."""
    from fhir.resources.R4B import get_fhir_model_class

    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        for r in resources:
            get_fhir_model_class(r["resourceType"]).model_validate(r)
        best = min(best, time.perf_counter() - began)
    return len(resources) / best


TRIVIAL_APP = '''
from fastapi import FastAPI
app = FastAPI()

@app.get("/ping")
async def ping() -> dict:
    return {"ok": True}
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


@contextmanager
def trivial_fastapi(folder: Path) -> Iterator[str]:
    """A one-route FastAPI app under uvicorn in its own process; yields its base URL."""
    (folder / "trivial_app.py").write_text(TRIVIAL_APP)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "trivial_app:app", "--port", str(port),
         "--log-level", "warning"], cwd=folder, env={**os.environ, "PYTHONPATH": str(folder)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(30)
