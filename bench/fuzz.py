"""Long fuzz run of every door: HL7 v2, FHIR, CSV/JSON records — 100,000 inputs each by default.

Coverage-guided: atheris (libFuzzer) mutates the bytes that hypothesis turns into inputs through
the same strategies the test suite uses (tests/fuzz_doors.py, via `fuzz_one_input`), with the
hub's own modules instrumented, so mutations that reach new branches of the reader and the
mappings are kept. Without atheris the same properties run under plain hypothesis. Each door
runs in its own process against its own SQLite hub; a failing input is written to
`fuzz-failures/` and counted, and the run goes on.

    python bench/fuzz.py                    # 100,000 per door, three doors side by side
    python bench/fuzz.py --inputs 5000 --door hl7
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOORS = ("hl7", "fhir", "records")


def run_door(door: str, inputs: int, stats_path: Path, failures_dir: Path,
             engine: str) -> None:
    """The child: one door, until `inputs` inputs have been tried."""
    sys.path.insert(0, str(ROOT))
    import logging

    logging.disable(logging.CRITICAL)
    atheris: Any = None
    if engine == "atheris":
        try:
            import atheris
        except ImportError:
            print("atheris is not installed: plain hypothesis", file=sys.stderr)
    if atheris is not None:
        with atheris.instrument_imports(include=["mappings", "adapters", "hub"]):
            import adapters.fhir.intake  # noqa: F401
            import adapters.hl7v2.intake  # noqa: F401
            import adapters.records_intake  # noqa: F401
            import mappings.fhir.reading  # noqa: F401
            import mappings.hl7v2.er7  # noqa: F401
            import mappings.record_files  # noqa: F401
    from hypothesis import HealthCheck, given, settings

    from adapters.bootstrap import bootstrap
    from adapters.settings import Settings
    from tests import fuzz_doors

    # in memory when it can (tmpfs): the store's fsyncs are not what is being fuzzed
    folder = tempfile.mkdtemp(prefix=f"yyhub-fuzz-{door}-",
                              dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    hub = bootstrap(Settings(database_url=f"sqlite:///{folder}/hub.db"))
    stats: dict[str, Any] = {"door": door, "engine": "atheris+hypothesis" if atheris else
                             "hypothesis", "tried": 0, "failures": 0, "outcomes": {},
                             "started": time.time()}
    failures_dir.mkdir(exist_ok=True)

    def note(outcome: Any) -> None:
        stats["tried"] += 1
        key = str(outcome)
        stats["outcomes"][key] = stats["outcomes"].get(key, 0) + 1
        if stats["tried"] % 500 == 0 or stats["tried"] >= inputs:
            stats["seconds"] = round(time.time() - stats["started"], 1)
            stats_path.write_text(json.dumps(stats))
        if stats["tried"] >= inputs:
            hub.close()
            os._exit(0)

    def failed(value: Any, error: BaseException) -> None:
        stats["failures"] += 1
        (failures_dir / f"{door}-{stats['failures']}.txt").write_text(
            f"{value!r}\n\n{''.join(traceback.format_exception(error))}")

    checks = {"hl7": (fuzz_doors.HL7_INPUT, lambda v: fuzz_doors.check_hl7(hub, v)),
              "fhir": (fuzz_doors.fhir_body(), lambda v: fuzz_doors.check_fhir(hub, *v)),
              "records": (fuzz_doors.record_file(),
                          lambda v: fuzz_doors.check_records(hub, *v))}
    strategy, check = checks[door]

    @settings(database=None, deadline=None, max_examples=inputs * 2,
              suppress_health_check=list(HealthCheck))
    @given(value=strategy)
    def one(value: Any) -> None:
        try:
            outcome = check(value)
        except Exception as error:  # counted and kept; the run goes on
            failed(value, error)
            outcome = "FAILED"
        note(outcome)

    if atheris is not None:
        def test_one_input(data: bytes) -> None:
            one.hypothesis.fuzz_one_input(data)

        atheris.Setup([sys.argv[0], "-runs=-1", "-max_len=4096", "-rss_limit_mb=4096"],
                      test_one_input)
        atheris.Fuzz()
    else:
        while True:
            one()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs per door")
    parser.add_argument("--door", choices=DOORS, action="append",
                        help="one door (repeatable); default all")
    parser.add_argument("--engine", choices=("atheris", "hypothesis"), default="atheris",
                        help="coverage-guided (atheris, ~25 inputs/s per door here) or plain "
                             "hypothesis (several times faster)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--stats", help=argparse.SUPPRESS)
    args = parser.parse_args()
    failures_dir = ROOT / "fuzz-failures"
    if args.child:
        run_door(args.child, args.inputs, Path(args.stats), failures_dir, args.engine)
        return 0
    started = time.time()
    children = {}
    for door in args.door or DOORS:
        stats = Path(tempfile.mkstemp(prefix=f"fuzz-{door}-", suffix=".json")[1])
        children[door] = (subprocess.Popen(
            [sys.executable, __file__, "--child", door, "--inputs", str(args.inputs),
             "--stats", str(stats), "--engine", args.engine], cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=open(stats.with_suffix(".log"), "wb")), stats)  # noqa: SIM115
    total_failures = 0
    for door, (process, stats) in children.items():
        code = process.wait()
        found = json.loads(stats.read_text() or "{}") if stats.stat().st_size else {}
        tried, failures = found.get("tried", 0), found.get("failures", 0)
        total_failures += failures + (0 if tried >= args.inputs else 1)
        print(f"{door:8} engine={found.get('engine', '?'):20} inputs tried={tried:>7,} "
              f"failures={failures} exit={code} seconds={found.get('seconds', '?')} "
              f"outcomes={found.get('outcomes', {})}")
        if tried < args.inputs:
            print(f"  the {door} run stopped early; see {stats.with_suffix('.log')}")
    print(f"total failures: {total_failures} (inputs in {failures_dir}) in "
          f"{time.time() - started:.0f} s")
    return 1 if total_failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
