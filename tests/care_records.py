"""Family-doctor and care-home records written for tests, as senders export them."""

from __future__ import annotations

import csv
import io
from typing import Any

from mappings.records import FIELDS
from tests.messages import resident_id

ZHANG = resident_id("442527", "19460315", "002")  # 张秀英, female
LI = resident_id("442527", "19380712", "013")  # 李建国, male


def contract(record_id: str, action: str, *, national: str = ZHANG, name: str = "张秀英",
             contract_id: str = "HT-1", team: str = "莞城家庭医生一队",
             when: str = "2025-03-01 09:00", start: str = "2025-03-01",
             end: str = "2026-02-28", reason: str = "",
             organisation: str = "DGGC-CHC") -> dict[str, Any]:
    return {"organisation": organisation, "record_id": record_id, "record_type": "contract",
            "resident_id": national, "name": name, "occurred_at": when,
            "contract_id": contract_id, "action": action, "team": team,
            "period_start": start if action == "sign" else "",
            "period_end": end if action in ("sign", "renew") else "",
            "packages": "基础包;高血压个性化包" if action == "sign" else "", "reason_code": reason}


def vital_signs(record_id: str, when: str, systolic: int, diastolic: int, *,
                national: str = ZHANG, organisation: str = "DGYL-01") -> dict[str, Any]:
    return {"organisation": organisation, "record_id": record_id, "record_type": "vital_signs",
            "resident_id": national, "name": "张秀英", "occurred_at": when,
            "systolic": systolic, "diastolic": diastolic, "heart_rate": 76}


def csv_bytes(records: list[dict[str, Any]], chinese: bool = True,
              encoding: str = "utf-8") -> bytes:
    """A CSV file with the union of the records' columns (Chinese headers by default)."""
    columns = list(dict.fromkeys(k for r in records for k in r))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([FIELDS[c] if chinese else c for c in columns])
    for r in records:
        writer.writerow([r.get(c, "") for c in columns])
    return out.getvalue().encode(encoding)
