"""Precision and recall of automatic links and of review candidates on a labelled population.

    python bench/matching.py --persons 3000

Automatic links come only from a shared valid 身份证号 (legacy 15-digit numbers upgraded);
records so linked form one elder. Candidates are pairs of elders whose records score as
probable or possible look-alikes. Targets: no false automatic link; candidate recall ≥ 0.95
with precision ≥ 0.9.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mappings.identifiers import resident_id_is_valid  # noqa: E402
from mappings.matching import PersonRecord, blocking_keys, compare, normalised_resident_id  # noqa: E402
from tests.population import population  # noqa: E402


def evaluate(persons: int, seed: int = 7) -> dict[str, float]:
    labelled = population(persons, seed)
    truth = {record.record_id: person for person, record in labelled}
    records = [record for _, record in labelled]
    # Automatic links: a shared valid national id; each group of linked records is one elder.
    elder_of: dict[str, str] = {}
    by_id: dict[str, str] = {}
    for record in records:
        rid = normalised_resident_id(record.resident_id)
        if rid and resident_id_is_valid(rid):
            elder_of[record.record_id] = by_id.setdefault(rid, record.record_id)
        else:
            elder_of[record.record_id] = record.record_id
    groups: dict[str, list[PersonRecord]] = defaultdict(list)
    for record in records:
        groups[elder_of[record.record_id]].append(record)
    false_links = sum(1 for members in groups.values()
                      if len({truth[m.record_id] for m in members}) > 1)
    auto_pairs = sum(len(m) * (len(m) - 1) // 2 for m in groups.values())
    # Candidates between elders, found through blocking keys.
    blocks: dict[str, set[str]] = defaultdict(set)
    for record in records:
        for key in blocking_keys(record):
            blocks[key].add(record.record_id)
    by_record = {r.record_id: r for r in records}
    compared: set[tuple[str, str]] = set()
    candidates: set[tuple[str, str]] = set()
    for members in blocks.values():
        for a, b in combinations(sorted(members), 2):
            ea, eb = elder_of[a], elder_of[b]
            if ea == eb or (a, b) in compared:
                continue
            compared.add((a, b))
            if compare(by_record[a], by_record[b]).is_candidate:
                candidates.add(tuple(sorted((ea, eb))))  # type: ignore[arg-type]
    person_of_elder = {e: truth[e] for e in groups}
    elders_by_person: dict[str, list[str]] = defaultdict(list)
    for elder, person in person_of_elder.items():
        elders_by_person[person].append(elder)
    true_pairs = {tuple(sorted(p)) for es in elders_by_person.values() for p in combinations(es, 2)}
    found = candidates & true_pairs
    return {
        "records": len(records), "elders_after_auto_links": len(groups),
        "auto_linked_record_pairs": auto_pairs, "false_auto_links": false_links,
        "pairs_compared": len(compared), "true_duplicate_elder_pairs": len(true_pairs),
        "candidates": len(candidates),
        "candidate_precision": len(found) / len(candidates) if candidates else 1.0,
        "candidate_recall": len(found) / len(true_pairs) if true_pairs else 1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    start = time.perf_counter()
    result = evaluate(args.persons, args.seed)
    for key, value in result.items():
        print(f"{key:30} {value:.3f}" if isinstance(value, float) else f"{key:30} {value}")
    print(f"{'seconds':30} {time.perf_counter() - start:.1f}")
    ok = (result["false_auto_links"] == 0 and result["candidate_recall"] >= 0.95
          and result["candidate_precision"] >= 0.9)
    print("targets (no false auto link, recall ≥ 0.95, precision ≥ 0.9):",
          "met" if ok else "MISSED")


if __name__ == "__main__":
    main()
