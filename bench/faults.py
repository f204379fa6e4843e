"""Fault drills at full length: a 30 s PostgreSQL outage and ten SIGKILLs during mixed traffic.

Runs the acceptance tests (tests/integration/test_database_outage.py and
test_crash_anywhere.py) with longer settings and prints their figures: messages sent,
acknowledged, kept, facts stored, duplicates, lost, time to recover.

    python bench/faults.py            # 30 s outage, 10 kills
    python bench/faults.py --outage 20 --kills 5
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=30, help="seconds the database is down")
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs of the hub")
    parser.add_argument("--seed", type=int, default=11, help="chooses the kill moments")
    args = parser.parse_args()
    env = {**os.environ, "YYHUB_OUTAGE_SECONDS": str(args.outage),
           "YYHUB_OUTAGE_MLLP": "600", "YYHUB_OUTAGE_HTTP": "200",
           "YYHUB_CRASH_KILLS": str(args.kills), "YYHUB_CRASH_SEED": str(args.seed)}
    return subprocess.call([sys.executable, "-m", "pytest", "-s", "-q", "-p", "no:cacheprovider",
                            "tests/integration/test_database_outage.py",
                            "tests/integration/test_crash_anywhere.py"], cwd=ROOT, env=env)


if __name__ == "__main__":
    raise SystemExit(main())
