"""Floors measured in the same run as a figure: what the bare database can do with the same bytes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url


def raw_insert_rate(database_url: str, payloads: list[bytes]) -> float:
    """Rows per second, one row per transaction, on the backend the URL names."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "").with_name("floor.db")
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS floor (id INTEGER PRIMARY KEY, payload BLOB)")
        start = time.perf_counter()
        for payload in payloads:
            conn.execute("BEGIN")
            conn.execute("INSERT INTO floor (payload) VALUES (?)", (payload,))
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
        conn.close()
        path.unlink(missing_ok=True)
        return len(payloads) / elapsed
    dsn = (f"host={url.host or '127.0.0.1'} port={url.port or 5432} "
           f"user={url.username or 'postgres'} dbname={url.database}")
    if url.password:
        dsn += f" password={url.password}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS floor (id bigserial PRIMARY KEY, payload bytea)")
        start = time.perf_counter()
        for payload in payloads:
            conn.execute("INSERT INTO floor (payload) VALUES (%s)", (payload,))
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE floor")
    return len(payloads) / elapsed
