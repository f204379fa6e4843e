"""`python -m bench` (or `yyhub bench`): every benchmark, each figure beside its floor.

Runs P1–P6 and the floors they are measured against, in one run on this machine, prints one
table (figure, floor, ratio, target) and writes every number to a JSON file so runs can be
compared. `--quick` runs each at a small size (under 5 minutes); the full run builds a city of
100,000 elders and 1,000,000+ events in PostgreSQL and reads from it.

    python -m bench --quick
    python -m bench --json bench-results/full.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import floors  # noqa: E402

SERVER = "postgresql://postgres@127.0.0.1:5432"

SIZES = {
    "quick": {"p1_messages": 2000, "p1_paced_seconds": 4, "p2_bundles": 4, "p2_resources": 150,
              "city_elders": 2000, "city_events": 20_000, "p4_requests": 600,
              "p5_events": 2000, "p1_ingest_messages": 1000},
    "full": {"p1_messages": 10_000, "p1_paced_seconds": 10, "p2_bundles": 16,
             # 1,000,000 events are ~50,000 elders of the city's mix (about 21 events each);
             # `--city-elders 100000` makes the 100,000-elder city (~2.1M events, ~30 min here)
             "p2_resources": 300, "city_elders": 50_000, "city_events": 1_000_000,
             "p4_requests": 4000, "p5_events": 10_000, "p1_ingest_messages": 3000},
}


class Table:
    """Rows of (figure, value, floor name, floor value, target); printed and kept for JSON."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, figure: str, value: float, unit: str, floor: str = "",
            floor_value: float | None = None, target: str = "", ratio: float | None = None,
            **detail: Any) -> None:
        if ratio is None and floor_value:
            ratio = value / floor_value
        row = {"figure": figure, "value": value, "unit": unit, "floor": floor,
               "floor_value": floor_value, "ratio": ratio, "target": target, **detail}
        self.rows.append(row)
        print(self.line(row), flush=True)

    @staticmethod
    def line(row: dict[str, Any]) -> str:
        floor = f"{row['floor_value']:>10,.1f} {row['floor']}" if row["floor_value"] else ""
        ratio = f"{row['ratio']:6.2f}" if row["ratio"] is not None else " " * 6
        return (f"{row['figure']:<46} {row['value']:>10,.1f} {row['unit']:<12} {ratio}  "
                f"{row['target']:<18} {floor}")


def fresh_database(label: str) -> tuple[str, Callable[[], None]]:
    name = f"yyhub_bench_{label}_{uuid.uuid4().hex[:6]}"

    def drop() -> None:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return f"{SERVER}/{name}", drop


def bench_parse_and_ingest(table: Table, size: dict[str, int], folder: Path) -> None:
    """The ingest path in-process (no network) beside bare parses and raw INSERTs."""
    from adapters.bootstrap import bootstrap
    from adapters.settings import Settings
    from bench.mllp import oru

    messages = [oru(i, 500, "I") for i in range(size["p1_ingest_messages"])]
    split = floors.split_parse_rate(messages * 5)
    hl7apy = floors.hl7apy_parse_rate(messages)
    table.add("floor: bare split parse of ORU^R01", split, "msg/s")
    table.add("floor: bare hl7apy parse of ORU^R01", hl7apy, "msg/s")
    for backend in ("sqlite", "postgresql"):
        if backend == "sqlite":
            url, drop = f"sqlite:///{folder}/ingest.db", (lambda: None)
        else:
            url, drop = fresh_database("ingest")
        try:
            hub = bootstrap(Settings(database_url=url))
            try:
                began = time.perf_counter()
                for k in range(0, len(messages), 50):
                    answers = hub.hl7.receive_many(messages[k:k + 50], "bench")
                    assert all(a.ack_code == "AA" for a in answers)
                rate = len(messages) / (time.perf_counter() - began)
            finally:
                hub.close()
            one = floors.raw_insert_rate(url, messages)
            batched = floors.batched_insert_rate(url, messages * 3)
        finally:
            drop()
        table.add(f"floor: {backend} INSERT, 1 row/transaction", one, "rows/s")
        table.add(f"floor: {backend} INSERT, 100 rows/transaction", batched, "rows/s")
        table.add(f"ORU^R01 in-process ingest, {backend}", rate, "msg/s",
                  "1-row INSERT", one)


def bench_p1(table: Table, size: dict[str, int]) -> dict[str, Any]:
    from bench import mllp

    r = mllp.run(n=size["p1_messages"], connections=4, workers=2, window=64,
                 paced_rate=500, paced_seconds=size["p1_paced_seconds"])
    table.add("P1 MLLP ORU^R01 → PostgreSQL, ACK after commit (projection apart)",
              r["sustained"], "msg/s", "1-row INSERT", r["floor_one_row"], "≥1,000 and ≥0.5×",
              codes=r["codes"], p50_ms=r["p50_ms"], p99_ms=r["p99_ms"])
    table.add("P1 projection worker through that backlog", r["projection_rate"], "events/s",
              events=r["projection_backlog_events"])
    table.add("P1 the same with the projection worker on the same cores",
              r["beside_sustained"], "msg/s", "1-row INSERT", r["floor_one_row"],
              codes=r["beside_codes"], p99_ms=r["beside_p99_ms"])
    table.add("P1 ACK latency p99 at 500 msg/s, one connection (projection apart)",
              r["paced_p99_ms"], "ms", target="≤20 ms", p50_ms=r["paced_p50_ms"],
              codes=r["paced_codes"])
    table.add("P1 the same with the projection worker on the same cores",
              r["beside_paced_p99_ms"], "ms", p50_ms=r["beside_paced_p50_ms"],
              codes=r["beside_paced_codes"])
    table.add("P1 projection caught up after last ACK", r["projection_caught_up_seconds"], "s",
              events=r["events"])
    return r


def bench_p2(table: Table, size: dict[str, int]) -> None:
    from bench import fhir_ingest

    result = fhir_ingest.measure(size["p2_bundles"], size["p2_resources"], [1, 2],
                                 report=lambda line: print("    " + line, flush=True))
    for r in result["runs"]:
        table.add(f"floor: bare fhir.resources R4B validation, one core (median of 4, in turns "
                  f"with the {r['workers']}-worker rounds)", r["floor"], "resources/s",
                  timings=r["floors"])
        table.add(f"P2 FHIR transaction Bundles over HTTP, {r['workers']} worker(s), median of 3",
                  r["rate"], "resources/s", "R4B validation", r["floor"], "≥0.5×",
                  rounds=r["rates"], projection_rate=r["projection_rate"])


def bench_city(table: Table, size: dict[str, int], url: str) -> dict[str, Any]:
    from adapters.bootstrap import bootstrap
    from adapters.settings import Settings
    from bench import city

    hub = bootstrap(Settings(database_url=url))
    try:
        result = city.load(hub, size["city_elders"], size["city_events"],
                           window=max(10_000, size["city_events"] // 20),
                           report=lambda w: print(
                               f"    city: {w['events']:>9,} events {w['elders']:>7,} elders "
                               f"{w['rate']:6.0f} events/s peak {w['rss_mb']:.0f} MB",
                               flush=True))
    finally:
        hub.close()
    windows = [w for w in result["windows"] if not w.get("draining")] or result["windows"]
    first, last = windows[0], windows[-1]
    table.add(f"P6 ingest rate at {last['events']:,} events", last["rate"], "events/s",
              f"rate at {first['events']:,}", first["rate"], "within 10%",
              elders=result["elders"], events=result["events"], windows=result["windows"])
    table.add("P6 peak memory, ingesting process", result["peak_rss_mb"], "MB",
              target="<500 MB")
    return result


def bench_p3(table: Table, url: str) -> None:
    """Rebuild the whole read model from the log in a separate process (`yyhub rebuild`)."""
    env = {**os.environ, "YYHUB_DATABASE_URL": url}
    with psycopg.connect(url) as conn:
        events = conn.execute("SELECT max(notification_id) FROM yiyanghub_events").fetchone()[0]
    began = time.perf_counter()
    process = subprocess.run(
        # VmHWM, not ru_maxrss: Linux carries the parent's ru_maxrss into a child
        [sys.executable, "-c", "import sys; sys.argv=['yyhub', 'rebuild'];"
         "from adapters.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
         "print('PEAK', [l.split()[1] for l in open('/proc/self/status')"
         " if l.startswith('VmHWM')][0])"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - began
    peak = int(process.stdout.rsplit("PEAK", 1)[1].split()[0]) / 1024
    table.add(f"P3 full rebuild of {events:,} events", seconds, "s", target="≤120 s at 1M")
    table.add("P3 projection catch-up (rebuild)", events / seconds, "events/s",
              target="≥10,000")
    table.add("P6 peak memory, rebuilding process", peak, "MB", target="<500 MB")


def bench_p4(table: Table, size: dict[str, int], url: str, folder: Path) -> None:
    """Profile reads from a separate process at 200/s against `yyhub serve` on the city store,
    beside a trivial FastAPI endpoint under the same load."""
    env = {**os.environ, "YYHUB_DATABASE_URL": url}
    out = subprocess.run([sys.executable, "-m", "adapters.cli", "orgs", "add", "BENCH-MZ",
                          "--role", "regulator", "--name", "民政局"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    key = out.strip().splitlines()[-1]
    with psycopg.connect(url) as conn:
        elders = [r[0] for r in conn.execute(
            "SELECT elder_id FROM rm_elder_profile ORDER BY random() LIMIT 2000")]
    paths = folder / "paths.txt"
    paths.write_text("\n".join(f"/elders/{e}/profile" for e in elders), encoding="utf-8")
    port = floors.free_port()
    # as deployed for a city: HTTP in two processes (one of them runs the projection)
    server = subprocess.Popen([sys.executable, "-m", "adapters.cli", "serve", "--host",
                               "127.0.0.1", "--port", str(port), "--workers", "2"], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        floors.wait_for_port(port, server)
        load = [sys.executable, "-m", "bench.load", "--base", f"http://127.0.0.1:{port}",
                "--rate", "200", "--count", str(size["p4_requests"]), "--max-seconds", "120"]
        headers = ["--header", f"Authorization: Bearer {key}", "--header",
                   "X-Purpose: audit"]
        warm = [sys.executable, "-m", "bench.load", "--base", f"http://127.0.0.1:{port}",
                "--rate", "50", "--count", "100"]
        subprocess.run([*warm, "--paths-file", str(paths), *headers], cwd=ROOT,
                       capture_output=True, check=True)
        got = json.loads(subprocess.run([*load, "--paths-file", str(paths), *headers],
                                        cwd=ROOT, capture_output=True, text=True,
                                        check=True).stdout)
    finally:
        server.terminate()
        server.wait(30)
    with floors.trivial_fastapi(folder) as base:
        trivial = json.loads(subprocess.run(
            [sys.executable, "-m", "bench.load", "--base", base, "--path", "/ping", "--rate",
             "200", "--count", str(size["p4_requests"])], cwd=ROOT, capture_output=True,
            text=True, check=True).stdout)
    table.add("floor: trivial FastAPI endpoint p99 at 200/s", trivial["p99_ms"], "ms")
    table.add("P4 profile read p99 at 200/s (audited)", got["p99_ms"], "ms",
              "trivial endpoint", trivial["p99_ms"], "≤10 ms", p50_ms=got["p50_ms"],
              achieved_rate=got.get("rate"), failures=got["failures"],
              requests=got["requests"])


def bench_p5(table: Table, size: dict[str, int]) -> None:
    from bench import asof

    url, drop = fresh_database("asof")
    try:
        r = asof.run(url, size["p5_events"])
    finally:
        drop()
    table.add("floor: plain fold of the whole stream", r["plain_fold_ms"], "ms")
    table.add(f"P5 as-of replay, one elder of {r['events']:,} events", r["checkpoint_read_ms"],
              "ms", "plain fold", r["plain_fold_ms"], "≤250 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, under 5 minutes")
    parser.add_argument("--json", type=Path, help="where to write the results "
                        "(default bench-results/<time>.json)")
    parser.add_argument("--only", action="append", help="p0 p1 p2 city p5 (repeatable)")
    parser.add_argument("--city-url", help="an existing city store to read (skips loading)")
    parser.add_argument("--city-elders", type=int, help="elders in the city (full: 50,000)")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    size = dict(SIZES[mode])
    if args.city_elders:
        size["city_elders"] = args.city_elders
    only = set(args.only or ("p0", "p1", "p2", "city", "p5"))
    table = Table()
    started = time.perf_counter()
    print(f"yyhub bench ({mode}) on {platform.node()}, {os.cpu_count()} cores, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"{'figure':<46} {'value':>10} {'unit':<12} {'ratio':>6}  {'target':<18} floor")
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        if "p0" in only:
            bench_parse_and_ingest(table, size, folder)
        if "p1" in only:
            bench_p1(table, size)
        if "p2" in only:
            bench_p2(table, size)
        if "city" in only:
            url, drop = (args.city_url, lambda: None) if args.city_url else \
                fresh_database("city")
            try:
                if not args.city_url:
                    bench_city(table, size, url)
                bench_p3(table, url)
                bench_p4(table, size, url, folder)
            finally:
                drop()
        if "p5" in only:
            bench_p5(table, size)
    seconds = time.perf_counter() - started
    print(f"done in {seconds:.0f} s")
    path = args.json or ROOT / "bench-results" / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{mode}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"mode": mode, "machine": platform.node(),
                                "cores": os.cpu_count(), "seconds": seconds,
                                "at": datetime.now(UTC).isoformat(), "sizes": size,
                                "rows": table.rows}, ensure_ascii=False, indent=1),
                    encoding="utf-8")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
