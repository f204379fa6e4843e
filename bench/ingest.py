"""Ingest N ADT messages through the application service; print messages/s beside the raw
one-row-per-transaction INSERT rate of the same backend, measured in the same run.

    python bench/ingest.py --n 2000                       # SQLite file in a temporary folder
    python bench/ingest.py --n 2000 --database-url postgresql://postgres@127.0.0.1:5432/yyhub_bench
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.bootstrap import bootstrap  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from bench.floors import raw_insert_rate  # noqa: E402
from event_store.persistence import is_postgres, prepare_database  # noqa: E402
from tests.messages import adt, resident_id  # noqa: E402

AL1 = "AL1|1|DA|PEN^青霉素^L|SV|皮疹"
DG1 = "DG1|1||I10^高血压^I10|高血压||W"
PV1 = "PV1|1|I|神经内科^302^2^DGSY||||D017^黄^伟|||NEU||||||||||V{i}"


def messages(n: int) -> list[bytes]:
    """N admissions for N/4 elders (each elder gets four messages, as an inpatient stay would)."""
    out = []
    for i in range(n):
        person = i // 4
        national = resident_id(sequence=f"{person % 999:03d}",
                               birth=f"19{30 + person // 999 % 50}{1 + person // 49950 % 12:02d}01")
        out.append(adt("A01" if i % 4 == 0 else "A08", control_id=f"BENCH{i}",
                       national_id=national, mrn=f"B{person}",
                       extra=(AL1, DG1, PV1.format(i=person))).encode())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{folder}/bench.db"
        if is_postgres(url):
            prepare_database(url)
        batch = messages(args.n)
        floor = raw_insert_rate(url, batch)
        hub = bootstrap(Settings(database_url=url))
        try:
            start = time.perf_counter()
            codes = [hub.hl7.receive(raw, "bench").ack_code for raw in batch]
            elapsed = time.perf_counter() - start
            assert codes.count("AA") == len(batch), "every benchmark message must be accepted"
            start = time.perf_counter()
            applied = hub.projector.catch_up()
            projection = applied / (time.perf_counter() - start)
        finally:
            hub.close()
        rate = len(batch) / elapsed
        backend = "postgresql" if is_postgres(url) else "sqlite"
        print(f"backend: {backend}, messages: {len(batch)}")
        print(f"{'figure':44} {'value':>10} {'floor':>10} {'ratio':>6}")
        print(f"{'ingest (parse, map, save, ACK), msg/s':44} {rate:10.0f} {floor:10.0f} "
              f"{rate / floor:6.2f}")
        print(f"{'  floor: raw INSERT, 1 row per transaction':44}")
        print(f"{'projection catch-up, events/s':44} {projection:10.0f}")


if __name__ == "__main__":
    main()
