"""An HTTP load generator for the suite, run in its own process so the server's figures are not
paid for by the client's interpreter: open loop at a fixed rate, bounded in count and time.

    python -m bench.load --base http://127.0.0.1:8000 --path /ping --rate 200 --count 2000

Each request is due at start + i/rate; its latency is measured from when it was due, so a server
that falls behind shows it in the latency (no coordinated omission). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

import httpx


def run(base: str, paths: list[str], rate: float, count: int, headers: dict[str, str],
        threads: int = 16, max_seconds: float = 120) -> dict[str, float]:
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    next_index = 0
    ready = threading.Barrier(threads + 1)
    start = deadline = 0.0

    def worker() -> None:
        nonlocal next_index, failures
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            client.get(paths[0])  # connect first: setting up 16 connections is not a read
            ready.wait()
            ready.wait()  # the schedule starts once every sender is connected
            while True:
                with lock:
                    i = next_index
                    next_index += 1
                if i >= count:
                    return
                due = start + i / rate
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                if time.perf_counter() > deadline:
                    return
                answer = client.get(paths[i % len(paths)])
                done = time.perf_counter()
                with lock:
                    if answer.status_code == 200:
                        latencies.append(done - due)
                    else:
                        failures += 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    ready.wait()
    start = time.perf_counter() + 0.05
    deadline = start + max_seconds
    ready.wait()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    if not latencies:
        return {"requests": 0, "failures": failures}
    return {"requests": len(latencies), "failures": failures,
            "rate": len(latencies) / elapsed,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--path", action="append", default=[])
    parser.add_argument("--paths-file", help="one path per line (instead of --path)")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--header", action="append", default=[], help="Name: value")
    parser.add_argument("--max-seconds", type=float, default=120)
    args = parser.parse_args()
    paths = args.path
    if args.paths_file:
        with open(args.paths_file, encoding="utf-8") as f:
            paths = [line.strip() for line in f if line.strip()]
    headers = dict(h.split(": ", 1) for h in args.header)
    print(json.dumps(run(args.base, paths, args.rate, args.count, headers,
                         max_seconds=args.max_seconds)))


if __name__ == "__main__":
    main()
