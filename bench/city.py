"""A city's worth of events, streamed into a hub part by part (P6, and the store P3–P5 read).

The synthetic city of `adapters/demo_city.py` (elders with valid 身份证号; hospitals sending
HL7 v2, family-doctor teams and care homes sending records) is made 1,000 elders at a time —
each part a year of their events in time order — and sent through the real intakes: HL7 messages
that come together in one `receive_many` (as MLLP commits them), records one row at a time.
Four parts are sent at once, by four senders; nothing else is held in memory.
Reports the ingest rate over each window of the
log (events/s), so the rate at 10,000 events can be compared with the rate at 1,000,000, and the
process's peak memory.

    python bench/city.py --elders 100000 --events 1000000 --database-url postgresql://…/yyhub_city
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.bootstrap import Hub, bootstrap  # noqa: E402
from adapters.demo_city import City, generate  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from mappings.record_files import Row  # noqa: E402

PART = 1000
HL7_BATCH = 50


def parts(elders: int, seed: int = 2026) -> Iterator[City]:
    """The city, 1,000 elders at a time (a lighter mix than the demo: a city's typical elder
    is seen by a family doctor; fewer are in hospital or a care home in a given year)."""
    for k, first in enumerate(range(0, elders, PART)):
        yield generate(seed=seed + k, elders=min(PART, elders - first), first_index=first + 1,
                       care_home_share=0.03, hospital_share=0.1)


def peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM; ru_maxrss would include a parent's)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def send(hub: Hub, city: City) -> dict[str, int]:
    """Send one part through the intakes; returns outcome counts."""
    counts: dict[str, int] = {}
    waiting: list[bytes] = []

    def flush() -> None:
        for answer in hub.hl7.receive_many(waiting, "city"):
            outcome = answer.receipt.outcome if answer.ack_code == "AA" else "rejected"
            counts[outcome] = counts.get(outcome, 0) + 1
        waiting.clear()

    for number, (_, kind, item) in enumerate(city.items, start=1):
        if kind == "hl7":
            waiting.append(item)
            if len(waiting) >= HL7_BATCH:
                flush()
            continue
        flush()
        row = Row(number, item, json.dumps(item, ensure_ascii=False).encode(),
                  lambda f, n=number: f"record {n}, field {f}")
        for result in hub.records.receive_rows([row], "city").rows:
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
    flush()
    return counts


def load(hub: Hub, elders: int, events: int, window: int = 10_000,
         report: Callable[[dict[str, Any]], None] | None = None,
         senders: int = 4) -> dict[str, Any]:
    """Stream parts until `elders` elders and `events` events are in the log; the ingest rate
    is measured over each `window` events. `senders` parts are sent at once, as a city's many
    hospitals, teams and care homes send at once (each part by one sender, in its own order)."""
    recorder = hub.app.recorder
    start_events = recorder.max_notification_id() or 0
    windows: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    mark_events, mark_time = start_events, time.perf_counter()
    began = mark_time
    sent_elders = 0
    lock = threading.Lock()
    in_flight = threading.Semaphore(senders)
    stop = threading.Event()

    def deliver(part: City) -> None:
        nonlocal sent_elders, mark_events, mark_time
        try:
            done = send(hub, part)
        except BaseException:
            in_flight.release()
            raise
        with lock:
            for outcome, count in done.items():
                counts[outcome] = counts.get(outcome, 0) + count
            sent_elders += len(part.elders)
            now_events = recorder.max_notification_id() or 0
            if now_events - mark_events >= window:
                now = time.perf_counter()
                # a window that ends after the last part was handed out has fewer senders
                # busy (the tail drains): marked, and not the rate the city sustains
                windows.append({"events": now_events, "rate": (now_events - mark_events) /
                                (now - mark_time), "elders": sent_elders,
                                "rss_mb": peak_rss_mb(), "draining": stop.is_set()})
                if report:
                    report(windows[-1])
                mark_events, mark_time = now_events, now
            if sent_elders >= elders and now_events - start_events >= events:
                stop.set()
        in_flight.release()  # after `stop` is decided: at most senders - 1 parts overshoot

    with ThreadPoolExecutor(senders) as pool:
        for part in parts(max(elders, 1) * 100):
            in_flight.acquire()
            if stop.is_set():
                in_flight.release()
                break
            pool.submit(deliver, part)
    total = (recorder.max_notification_id() or 0) - start_events
    return {"elders": sent_elders, "events": total, "seconds": time.perf_counter() - began,
            "windows": windows, "counts": counts, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elders", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    hub = bootstrap(Settings(database_url=args.database_url))
    try:
        result = load(hub, args.elders, args.events, report=lambda w: print(
            f"{w['events']:>10,} events  {w['elders']:>7,} elders  {w['rate']:7.0f} events/s  "
            f"peak {w['rss_mb']:.0f} MB", flush=True))
    finally:
        hub.close()
    print(json.dumps({k: v for k, v in result.items() if k != "windows"}))


if __name__ == "__main__":
    main()
