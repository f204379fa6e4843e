"""Benchmark: stream N ORU^R01 messages (10 OBX each) over MLLP into PostgreSQL.

Starts `yyhub mllp` on a fresh PostgreSQL database in a subprocess, streams the messages over one
connection with up to `--window` messages in flight (a sender keeps writing while a reader takes
the ACKs), and prints sustained messages/s, p50/p99 ACK latency, and the raw PostgreSQL
one-row-per-transaction INSERT rate measured in the same run, with the ratio of the two.

    python bench/mllp.py --n 10000
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
from stdnum.cn import ric

ROOT = Path(__file__).resolve().parents[1]
SERVER = "postgresql://postgres@127.0.0.1:5432"


def resident_id(n: int) -> str:
    first17 = f"4425271940{(n % 12) + 1:02d}{(n % 28) + 1:02d}{n % 1000:03d}"
    return first17 + ric.calc_check_digit(first17 + "0")


def oru(i: int, patients: int) -> bytes:
    """An ORU^R01 with 10 OBX (vital signs and labs) for one of `patients` elders."""
    p = i % patients
    obx = "\r".join(
        f"OBX|{k}|NM|{8860 + k}-{k % 10}^检验{k}^LN||{70 + (i + k) % 50}|mmol/L^mmol/L^UCUM|"
        f"3.9-6.1|N|||F|||20260310{(i // 60) % 24:02d}{i % 60:02d}00+0800" for k in range(1, 11))
    return (f"MSH|^~\\&|LIS|DGSY|YYHUB|HUB|20260310093000+0800||ORU^R01^ORU_R01|B{i}|P|2.5|||||CHN|"
            f"UNICODE UTF-8\rPID|1||{resident_id(p)}^^^^NNCHN~M{p}^^^DGSY^MR||王^建{p % 10}||"
            f"19400101|M\rOBR|1||F{i}|CBC^血常规^L|||20260310080000+0800\r{obx}\r").encode()


def raw_insert_rate(dsn: str, rows: int) -> float:
    """Rows/s for one-row INSERT transactions on one connection (the floor to compare with)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_floor (id bigserial primary key, "
                     "payload bytea)")
        payload = b"x" * 600
        start = time.perf_counter()
        for _ in range(rows):
            conn.execute("INSERT INTO bench_floor (payload) VALUES (%s)", (payload,))
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE bench_floor")
    return rows / elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
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


def stream(port: int, messages: list[bytes], window: int) -> tuple[float, list[float], dict]:
    """Send with at most `window` unanswered; return elapsed seconds, latencies, ACK codes."""
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
                now = time.perf_counter()
                latencies.append(now - sent_at[received])
                code = frame.split(b"MSA|", 1)[1][:2].decode()
                codes[code] = codes.get(code, 0) + 1
                received += 1
                slots.release()

    thread = threading.Thread(target=reader)
    thread.start()
    start = time.perf_counter()
    for i, message in enumerate(messages):
        slots.acquire()
        sent_at[i] = time.perf_counter()
        sock.sendall(b"\x0b" + message + b"\x1c\r")
    thread.join()
    elapsed = time.perf_counter() - start
    sock.close()
    return elapsed, latencies, codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="messages to stream")
    parser.add_argument("--window", type=int, default=64, help="messages in flight")
    parser.add_argument("--patients", type=int, default=500, help="distinct elders")
    parser.add_argument("--worker", action=argparse.BooleanOptionalAction, default=True,
                        help="projection worker inside the MLLP process (as `yyhub mllp`)")
    parser.add_argument("--floor-rows", type=int, default=3000, help="raw INSERTs to time")
    args = parser.parse_args()

    name = f"yyhub_bench_{uuid.uuid4().hex[:8]}"
    url = f"{SERVER}/{name}"
    port = free_port()
    env = {**os.environ, "YYHUB_DATABASE_URL": url, "YYHUB_MLLP_PORT": str(port),
           "YYHUB_READ_MODEL_PREFIX": "rm_"}
    command = [sys.executable, "-m", "adapters.cli", "mllp"]
    if not args.worker:
        command.append("--no-worker")
    server = subprocess.Popen(command, cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, server)
        messages = [oru(i, args.patients) for i in range(args.n)]
        elapsed, latencies, codes = stream(port, messages, args.window)
        floor = raw_insert_rate(f"{SERVER}/{name}", args.floor_rows)
    finally:
        server.terminate()
        server.wait(30)
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    rate = len(latencies) / elapsed
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"messages            {len(latencies)} of {args.n} (ACK codes {codes})")
    print(f"sustained           {rate:,.0f} messages/s ({rate * 10:,.0f} observations/s) "
          f"over {elapsed:.1f} s, window {args.window}")
    print(f"ACK latency         p50 {statistics.median(latencies) * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms")
    print(f"raw PostgreSQL      {floor:,.0f} one-row INSERT transactions/s (same run)")
    print(f"ratio               {rate / floor:.2f} × the raw floor")


if __name__ == "__main__":
    main()
