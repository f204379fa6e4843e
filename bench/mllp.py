"""P1: stream ORU^R01 messages (10 OBX each) over MLLP into PostgreSQL, ACK after commit.

Starts `yyhub mllp` (with `--workers N` listener processes sharing the port) on a fresh
PostgreSQL database and registers the laboratory as a sender; then
- streams `--n` messages over `--connections` connections, each with up to `--window`
  messages in flight (a sender keeps writing while a reader takes the ACKs): sustained msg/s
  of ingest, with no projection worker on these cores (a deployment at this rate runs it on
  another host, docs/deployment.md);
- starts `yyhub project` and times it through the backlog;
- streams `--n` more with the projection worker beside the listeners on the same 2 cores;
- sends at a fixed `--paced-rate` over one connection: p50/p99 ACK latency at that rate;
and measures, in the same run, one-row-per-transaction and 100-row batched INSERTs of the same
message bytes into the same database (the floors).

    python bench/mllp.py --n 10000 --connections 4 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from stdnum.cn import ric

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.floors import (  # noqa: E402
    batched_insert_rate,
    checkpoint,
    free_port,
    raw_insert_rate,
    wait_for_port,
)

ROOT = Path(__file__).resolve().parents[1]
SERVER = "postgresql://postgres@127.0.0.1:5432"


def resident_id(n: int) -> str:
    first17 = f"4425271940{(n % 12) + 1:02d}{(n % 28) + 1:02d}{n % 1000:03d}"
    return first17 + ric.calc_check_digit(first17 + "0")


def oru(i: int, patients: int, prefix: str = "B") -> bytes:
    """An ORU^R01 with 10 OBX (vital signs and labs) for one of `patients` elders."""
    p = i % patients
    obx = "\r".join(
        f"OBX|{k}|NM|{8860 + k}-{k % 10}^检验{k}^LN||{70 + (i + k) % 50}|mmol/L^mmol/L^UCUM|"
        f"3.9-6.1|N|||F|||20260310{(i // 60) % 24:02d}{i % 60:02d}00+0800" for k in range(1, 11))
    return (f"MSH|^~\\&|LIS|DGSY|YYHUB|HUB|20260310093000+0800||ORU^R01^ORU_R01|{prefix}{i}|P|"
            f"2.5|||||CHN|UNICODE UTF-8\rPID|1||{resident_id(p)}^^^^NNCHN~M{p}^^^DGSY^MR||"
            f"王^建{p % 10}||19400101|M\rOBR|1||F{i}|CBC^血常规^L|||20260310080000+0800\r"
            f"{obx}\r").encode()


def stream(port: int, messages: list[bytes], window: int, pace: float = 0.0
           ) -> tuple[float, list[float], dict[str, int]]:
    """Send with at most `window` unanswered (and, if `pace`, one every 1/pace s); return
    elapsed seconds, ACK latencies and ACK codes."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    slots = threading.Semaphore(window)
    sent_at: list[float] = [0.0] * len(messages)
    latencies: list[float] = []
    codes: dict[str, int] = {}

    def reader() -> None:
        buffer = b""
        received = 0
        while received < len(messages):
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
            while b"\x1c\r" in buffer:
                frame, buffer = buffer.split(b"\x1c\r", 1)
                latencies.append(time.perf_counter() - sent_at[received])
                code = frame.split(b"MSA|", 1)[1][:2].decode()
                codes[code] = codes.get(code, 0) + 1
                received += 1
                slots.release()

    thread = threading.Thread(target=reader)
    thread.start()
    start = time.perf_counter()
    for i, message in enumerate(messages):
        slots.acquire()
        if pace:
            delay = start + i / pace - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        sent_at[i] = time.perf_counter()
        sock.sendall(b"\x0b" + message + b"\x1c\r")
    thread.join()
    elapsed = time.perf_counter() - start
    sock.close()
    return elapsed, latencies, codes


def _cli(args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)


def _projected(url: str) -> tuple[int, int]:
    """(events in the log, events the projection has applied)."""
    with psycopg.connect(url) as conn:
        last = conn.execute("SELECT coalesce(max(notification_id), 0) FROM "
                            "yiyanghub_events").fetchone()[0]
        done = conn.execute("SELECT coalesce(max(position), 0) FROM rm_tracking").fetchone()[0]
    return int(last), int(done)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def _stream_all(port: int, messages: list[bytes], connections: int, window: int
                ) -> dict[str, Any]:
    """Stream `messages` over `connections` connections at once: rate, latencies, ACK codes."""
    per_connection = [messages[k::connections] for k in range(connections)]
    outcomes: list[tuple[float, list[float], dict[str, int]]] = []
    threads = [threading.Thread(target=lambda part=part: outcomes.append(
        stream(port, part, window))) for part in per_connection]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies = [x for o in outcomes for x in o[1]]
    codes: dict[str, int] = {}
    for o in outcomes:
        for code, count in o[2].items():
            codes[code] = codes.get(code, 0) + count
    return {"sustained": len(latencies) / elapsed, "seconds": elapsed, "codes": codes,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000}


def _catch_up(url: str, limit: float = 600) -> tuple[float, int, int]:
    """Wait for the projection to reach the end of the log: (seconds, events, events left)."""
    last, done = _projected(url)
    began = time.perf_counter()
    start_done = done
    while done < last and time.perf_counter() - began < limit:
        time.sleep(0.1)
        last, done = _projected(url)
    return time.perf_counter() - began, done - start_done, max(0, last - done)


def run(n: int = 10_000, connections: int = 4, workers: int = 2, window: int = 64,
        patients: int = 500, paced_rate: float = 500, paced_seconds: float = 10,
        floor_rows: int = 3000) -> dict[str, Any]:
    """Three phases on one fresh database:

    1. with no projection worker running, as on a deployment where it runs on another host:
       `paced_rate` msg/s over one connection for `paced_seconds` (ACK latency), then `n`
       messages streamed as fast as the listeners take them (sustained rate);
    2. the projection worker started on the backlog: its rate catching up;
    3. `n` more messages with the projection worker beside the listeners on the same cores,
       then the paced run again.
    """
    name = f"yyhub_bench_{uuid.uuid4().hex[:8]}"
    url = f"{SERVER}/{name}"
    port = free_port()
    env = {**os.environ, "YYHUB_DATABASE_URL": url, "YYHUB_MLLP_PORT": str(port)}
    subprocess.run([sys.executable, "-m", "adapters.cli", "orgs", "add", "DGSY", "--role",
                    "hospital", "--facility", "DGSY"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=300)
    server = _cli(["mllp", "--no-worker", "--workers", str(workers)], env)
    projector: subprocess.Popen[bytes] | None = None
    result: dict[str, Any] = {"messages": n, "connections": connections, "workers": workers,
                              "window": window}
    try:
        wait_for_port(port, server)
        messages = [oru(i, patients) for i in range(n)]
        # a warm-up over every connection that names every elder twice: both listener
        # processes past their imports and pools, and every elder known (steady state)
        _stream_all(port, [oru(i, patients, "W") for i in range(max(2 * patients,
                                                                      window * connections))],
                    connections, window)
        checkpoint(url)
        # Latency first, on the warm listeners, before a saturating burst fills PostgreSQL's
        # WAL and its checkpoint slows the commits that follow for a while.
        paced = [oru(i, patients, "A") for i in range(int(paced_rate * paced_seconds))]
        _, paced_latencies, paced_codes = stream(port, paced, 10_000, pace=paced_rate)
        result.update(paced_rate=paced_rate, paced_codes=paced_codes,
                      paced_p50_ms=statistics.median(paced_latencies) * 1000,
                      paced_p99_ms=percentile(paced_latencies, 0.99) * 1000)
        result.update(_stream_all(port, messages, connections, window))
        projector = _cli(["project"], env)
        seconds, applied, left = _catch_up(url)
        result.update(projection_backlog_seconds=seconds, projection_backlog_events=applied,
                      projection_rate=applied / seconds if seconds else 0.0,
                      projection_backlog_left=left)
        beside = _stream_all(port, [oru(i, patients, "S") for i in range(n)], connections,
                             window)
        result.update({f"beside_{k}": v for k, v in beside.items()})
        paced = [oru(i, patients, "P") for i in range(int(paced_rate * paced_seconds))]
        _, paced_latencies, paced_codes = stream(port, paced, 10_000, pace=paced_rate)
        result.update(beside_paced_codes=paced_codes,
                      beside_paced_p50_ms=statistics.median(paced_latencies) * 1000,
                      beside_paced_p99_ms=percentile(paced_latencies, 0.99) * 1000)
        seconds, _, left = _catch_up(url)
        result.update(projection_caught_up_seconds=seconds, projection_lag_events=left,
                      events=_projected(url)[0])
    finally:
        server.terminate()
        if projector is not None:
            projector.terminate()
            projector.wait(60)
        server.wait(60)
    try:
        checkpoint(url)
        sample = messages[:floor_rows]
        result["floor_one_row"] = raw_insert_rate(url, sample)
        result["floor_batched"] = batched_insert_rate(url, messages[:floor_rows * 5])
    finally:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="messages to stream")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="MLLP listener processes")
    parser.add_argument("--window", type=int, default=64, help="messages in flight per connection")
    parser.add_argument("--patients", type=int, default=500, help="distinct elders")
    parser.add_argument("--paced-rate", type=float, default=500)
    args = parser.parse_args()
    r = run(args.n, args.connections, args.workers, args.window, args.patients, args.paced_rate)
    print(f"messages            {args.n} over {args.connections} connections, "
          f"{args.workers} listener processes (ACK codes {r['codes']})")
    print(f"sustained ingest    {r['sustained']:,.0f} messages/s "
          f"({r['sustained'] * 10:,.0f} observations/s) over {r['seconds']:.1f} s, "
          "projection worker not running")
    print(f"ACK latency         p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms (saturated)")
    print(f"raw PostgreSQL      {r['floor_one_row']:,.0f} one-row INSERT transactions/s, "
          f"{r['floor_batched']:,.0f} rows/s in 100-row transactions (same run, same bytes)")
    print(f"ratio               {r['sustained'] / r['floor_one_row']:.2f} × the one-row floor")
    print(f"at {r['paced_rate']:.0f} msg/s         p50 {r['paced_p50_ms']:.1f} ms, "
          f"p99 {r['paced_p99_ms']:.1f} ms (one connection, projection apart)")
    print(f"projection backlog  {r['projection_backlog_events']} events in "
          f"{r['projection_backlog_seconds']:.1f} s ({r['projection_rate']:,.0f} events/s)")
    print(f"projection beside   {r['beside_sustained']:,.0f} messages/s "
          f"(p99 {r['beside_p99_ms']:.0f} ms) with the worker on the same cores")
    print(f"at {r['paced_rate']:.0f} msg/s         p50 {r['beside_paced_p50_ms']:.1f} ms, "
          f"p99 {r['beside_paced_p99_ms']:.1f} ms (one connection, projection beside)")
    print(f"projection          caught up {r['projection_caught_up_seconds']:.1f} s after the "
          f"last ACK ({r['events']} events)")
    print(json.dumps(r))


if __name__ == "__main__":
    main()
