"""Benchmark: a regulator's as-of profile of one elder with a long stream, read from the nearest
profile checkpoint, beside the plain fold of the whole stream (the floor it replaces).

Builds one elder with `--events` events (ORU^R01 lab reports for one patient, 50 per save) on a
fresh database, catches the projection up (which writes the checkpoints), then times the as-of
read at several instants (median of several runs each) and the plain fold, asserting at every
instant that the two answers are equal.

    python bench/asof.py                         # fresh PostgreSQL database, dropped afterwards
    python bench/asof.py --database-url sqlite:////tmp/asof.db --events 10000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.bootstrap import bootstrap  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from bench.mllp import oru  # noqa: E402
from event_store.persistence import is_postgres, prepare_database  # noqa: E402
from event_store.projector import CHECKPOINT_EVERY  # noqa: E402
from event_store.sql import sqlalchemy_url  # noqa: E402
from hub.projections import profile  # noqa: E402

SERVER = "postgresql://postgres@127.0.0.1:5432"
BATCH = 50
RUNS = 5


def median_ms(read: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """The median wall time of `runs` calls in milliseconds, and the last answer."""
    times, answer = [], None
    for _ in range(runs):
        start = time.perf_counter()
        answer = read()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), answer


def run(database_url: str, events: int = 10_000) -> dict[str, Any]:
    """Build the stream on `database_url` (an empty database), time both reads; the figures."""
    prepare_database(database_url)
    hub = bootstrap(Settings(database_url=database_url))
    try:
        elder_id, version, i = None, 0, 0
        started = time.perf_counter()
        while version < events:
            answers = hub.hl7.receive_many([oru(i + k, 1) for k in range(BATCH)], "bench")
            assert all(a.ack_code == "AA" for a in answers), "every message must be accepted"
            elder_id = elder_id or answers[0].receipt.elder_ids[0]
            i += BATCH
            version = hub.app.recorder.select_events(elder_id, desc=True, limit=1)[0] \
                .originator_version
        ingest_s = time.perf_counter() - started
        assert elder_id is not None
        started = time.perf_counter()
        hub.projector.catch_up()
        projection_s = time.perf_counter() - started

        stream = hub.app.elder_events(elder_id)
        at = [e.timestamp for e in stream]
        middle = max(1, len(at) // CHECKPOINT_EVERY // 2) * CHECKPOINT_EVERY  # a checkpoint's
        instants = {  # (the stream's events are all readable: at[v - 1] is version v's time)
            "before the first checkpoint": at[min(CHECKPOINT_EVERY, len(at)) // 2],
            "exactly at a checkpoint": at[min(middle, len(at)) - 1],
            "just before a checkpoint": at[min(middle, len(at)) - 2],
            "between checkpoints (1/4)": at[len(at) // 4 + CHECKPOINT_EVERY // 3],
            "between checkpoints (3/4)": at[3 * len(at) // 4 + CHECKPOINT_EVERY // 2],
            "after the last event": datetime.now(UTC) + timedelta(minutes=1),
        }

        def plain(elder_id: UUID, as_of: datetime) -> dict[str, Any]:
            return profile.fold(elder_id, [e for e in hub.app.elder_events(elder_id)
                                           if e.timestamp <= as_of])

        def from_checkpoint(elder_id: UUID, as_of: datetime) -> dict[str, Any] | None:
            return hub.profile_as_of(elder_id, as_of)

        checkpoint_ms: dict[str, float] = {}
        plain_ms: dict[str, float] = {}
        for name, as_of in instants.items():
            checkpoint_ms[name], answer = median_ms(partial(from_checkpoint, elder_id, as_of),
                                                    RUNS)
            plain_ms[name], expected = median_ms(partial(plain, elder_id, as_of), 3)
            assert answer == expected, f"the checkpoint read differs from the plain fold: {name}"
        with hub.read_model.engine.connect() as conn:
            t = hub.read_model.t.profile_checkpoint
            checkpoints = conn.execute(sa.select(sa.func.count()).select_from(t).where(
                t.c.elder_id == str(elder_id))).scalar_one()
    finally:
        hub.close()
    return {
        "backend": "postgresql" if is_postgres(database_url) else "sqlite",
        "events": len(stream),
        "stream_version": version,
        "checkpoint_every": CHECKPOINT_EVERY,
        "checkpoints": checkpoints,
        "ingest_s": ingest_s,
        "projection_s": projection_s,
        "checkpoint_read_ms": max(checkpoint_ms.values()),
        "plain_fold_ms": statistics.median(plain_ms.values()),
        "checkpoint_read_ms_by_instant": checkpoint_ms,
        "plain_fold_ms_by_instant": plain_ms,
    }


def drop_database(database_url: str) -> None:
    admin = sa.create_engine(sqlalchemy_url(database_url).set(database="postgres"),
                             isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            name = sqlalchemy_url(database_url).database
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--database-url", default="",
                        help="an empty database (default: a fresh PostgreSQL one, dropped after)")
    args = parser.parse_args()
    url = args.database_url or f"{SERVER}/yyhub_bench_asof_{uuid.uuid4().hex[:12]}"
    try:
        figures = run(url, args.events)
    finally:
        if not args.database_url:
            drop_database(url)
    print(f"backend: {figures['backend']}, checkpoint every {figures['checkpoint_every']} events, "
          f"{figures['checkpoints']} checkpoints (built in {figures['ingest_s']:.1f} s, "
          f"projected in {figures['projection_s']:.1f} s)")
    print(f"{'events in stream':44} {figures['events']:10d}")
    print(f"{'checkpoint read ms (worst instant, median)':44} {figures['checkpoint_read_ms']:10.1f}")
    print(f"{'plain fold ms (floor/baseline, median)':44} {figures['plain_fold_ms']:10.1f}")
    print(f"{'instant':32} {'checkpoint ms':>14} {'plain fold ms':>14}")
    for name, ms in figures["checkpoint_read_ms_by_instant"].items():
        print(f"{name:32} {ms:14.1f} {figures['plain_fold_ms_by_instant'][name]:14.1f}")


if __name__ == "__main__":
    main()
