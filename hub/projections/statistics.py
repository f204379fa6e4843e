"""Regulator statistics (民政, 卫健) as a pure fold over the event log, for any date.

`fold(events)` keeps, per elder, only what the indicators need (birth year, sex, chronic
conditions, follow-ups, checks, contracts, stays, incidents) and, per referral, its steps;
`indicators(state, day)` computes each indicator with its formula beside its number.
Nothing here identifies a person: an erased elder keeps being counted through the
non-identifying residue (birth year, sex) recorded on the erasure itself.
"""

from __future__ import annotations

from datetime import date, timedelta, tzinfo
from statistics import median
from typing import Any

from hub.elder import Elder, recorded_facts
from hub.erasure import Erasure
from hub.facts import (
    AnnualCheck,
    CareStay,
    ContractStatus,
    Demographics,
    Diagnosis,
    FollowUp,
    Incident,
)
from hub.referrals import Referral

State = dict[str, Any]
HYPERTENSION = tuple(f"I{n}" for n in range(10, 16))  # ICD-10 I10–I15
DIABETES = tuple(f"E{n}" for n in range(10, 15))  # ICD-10 E10–E14
YEAR = timedelta(days=365)


def initial() -> State:
    return {"elders": {}, "referrals": {}}


def _elder(state: State, elder_id: str, known: date) -> dict[str, Any]:
    return state["elders"].setdefault(elder_id, {
        "known": known, "birth_year": None, "sex": "", "hypertension": None, "diabetes": None,
        "follow_ups": [], "checks": [], "contracts": {}, "stays": {}, "incidents": []})


def apply(state: State, event: Any, zone: tzinfo) -> State:
    """Fold one event (in log order). Mutates and returns `state` (a private accumulator)."""
    if isinstance(event, Elder.Event):
        facts = recorded_facts(event)
        occurred = (min(f.occurred_at for f in facts) if facts
                    else getattr(event, "occurred_at", None) or event.timestamp)
        day = occurred.astimezone(zone).date()
        elder = _elder(state, str(event.originator_id), day)
        elder["known"] = min(elder["known"], day)
        for dated in facts:
            _fact(elder, dated.fact, dated.occurred_at.astimezone(zone).date(),
                  event.source.organisation)
    elif isinstance(event, Erasure.Requested):
        elder = _elder(state, str(event.elder_id), event.requested_at.astimezone(zone).date())
        elder["birth_year"] = elder["birth_year"] or getattr(event, "birth_year", None)
        elder["sex"] = elder["sex"] or getattr(event, "sex", "")
    elif isinstance(event, Referral.Event):
        _referral(state, event)
    return state


def _fact(elder: dict[str, Any], fact: Any, day: date, organisation: str) -> None:
    if isinstance(fact, Demographics):
        if fact.birth_date:
            elder["birth_year"] = fact.birth_date.year
            elder["birth_date"] = fact.birth_date
        if fact.sex:
            elder["sex"] = fact.sex.code
    elif isinstance(fact, Diagnosis):
        code = fact.condition.code.upper()
        for condition, prefixes in (("hypertension", HYPERTENSION), ("diabetes", DIABETES)):
            if code.startswith(prefixes) and (elder[condition] is None or day < elder[condition]):
                elder[condition] = day
    elif isinstance(fact, FollowUp):
        if fact.programme in ("hypertension", "diabetes") and elder[fact.programme] is None:
            elder[fact.programme] = day  # enrolled in the programme: a known patient
        elder["follow_ups"].append((day, fact.programme, _controlled(fact)))
    elif isinstance(fact, AnnualCheck):
        elder["checks"].append(day)
    elif isinstance(fact, ContractStatus):
        held = elder["contracts"].setdefault(fact.key, {})
        starts = [d for d in (held.get("start"), fact.period_start) if d]
        held.update({"organisation": fact.organisation or organisation, "team": fact.team,
                     "start": min(starts) if starts else None,  # a renewal extends, from the
                     "end": fact.period_end or held.get("end"),  # first day signed
                     "status": fact.status})
        if fact.status in ("terminated", "expired"):
            held["ended"] = day
    elif isinstance(fact, CareStay):
        stay = elder["stays"].setdefault(fact.key, {"organisation": organisation})
        stay["admitted" if fact.event == "admitted" else "discharged"] = day
    elif isinstance(fact, Incident):
        elder["incidents"].append((day, organisation))


def _controlled(fact: FollowUp) -> bool:
    """Blood pressure below 140/90, fasting glucose below 7.0 mmol/L, else 控制满意 (code 1)."""
    if fact.programme == "hypertension" and fact.systolic and fact.diastolic:
        return fact.systolic < 140 and fact.diastolic < 90
    if fact.programme == "diabetes" and fact.glucose is not None:
        return float(fact.glucose) < 7.0
    return bool(fact.classification and fact.classification.code == "1")


def _referral(state: State, event: Any) -> None:
    key = str(event.originator_id)
    if isinstance(event, Referral.Requested):
        state["referrals"][key] = {"direction": event.direction, "status": "requested",
                                   "requested": event.requested_at, "accepted": None,
                                   "completed": None, "overdue": False}
        return
    referral = state["referrals"].get(key)
    if referral is None:
        return
    step = type(event).__name__.lower()
    if isinstance(event, Referral.Overdue):
        referral["overdue"] = True
        return
    at = getattr(event, "at", None)
    if isinstance(event, Referral.Accepted):
        referral["accepted"] = at
    if isinstance(event, Referral.Completed):
        referral["completed"] = at
    if step not in ("returnsent", "followedup"):
        referral["status"] = {"returnsent": referral["status"]}.get(step, step)
        referral["overdue"] = False


def fold(events: Any, zone: tzinfo) -> State:
    state = initial()
    for event in events:
        state = apply(state, event, zone)
    return state


def _rate(key: str, name: str, formula: str, numerator: int, denominator: int,
          breakdown: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"key": key, "name": name, "formula": formula, "numerator": numerator,
            "denominator": denominator,
            "value": round(numerator / denominator, 4) if denominator else None,
            "breakdown": breakdown or []}


def _age(elder: dict[str, Any], day: date) -> int | None:
    born = elder.get("birth_date")
    if born:
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    return day.year - elder["birth_year"] if elder["birth_year"] else None


def _contract_in_force(elder: dict[str, Any], day: date) -> dict[str, Any] | None:
    for contract in elder["contracts"].values():
        start, end, ended = contract.get("start"), contract.get("end"), contract.get("ended")
        if start and start <= day and (end is None or day <= end) and (
                ended is None or day < ended):
            return contract
    return None


def indicators(state: State, day: date) -> dict[str, Any]:
    """Every indicator as it stood at the end of `day`."""
    elders = [e for e in state["elders"].values() if e["known"] <= day]
    out: list[dict[str, Any]] = []
    contracted = {id(e): _contract_in_force(e, day) for e in elders}
    by_team: dict[str, int] = {}
    for contract in contracted.values():
        if contract:
            label = f"{contract['organisation']} {contract['team']}".strip()
            by_team[label] = by_team.get(label, 0) + 1
    signed = sum(1 for c in contracted.values() if c)
    out.append(_rate("contract_rate", "家庭医生签约率", "有效签约老年人数 / 平台登记老年人数",
                     signed, len(elders),
                     [{"label": k, "value": v} for k, v in sorted(by_team.items())]))
    key_people = [e for e in elders if (_age(e, day) or 0) >= 65
                  or (e["hypertension"] and e["hypertension"] <= day)
                  or (e["diabetes"] and e["diabetes"] <= day)]
    out.append(_rate("key_population_contract_rate", "重点人群签约率",
                     "重点人群中有效签约人数 / 重点人群人数（65岁及以上、高血压、糖尿病）",
                     sum(1 for e in key_people if contracted[id(e)]), len(key_people)))
    over_65 = [e for e in elders if (_age(e, day) or 0) >= 65]
    checked = [e for e in over_65 if any(day - YEAR < d <= day for d in e["checks"])]
    out.append(_rate("elderly_health_management_rate", "65岁及以上老年人健康管理率",
                     "近一年接受健康体检的65岁及以上老年人数 / 65岁及以上老年人数",
                     len(checked), len(over_65)))
    for condition, label, target in (("hypertension", "高血压", "血压<140/90 mmHg"),
                                     ("diabetes", "2型糖尿病", "空腹血糖<7.0 mmol/L")):
        patients = [e for e in elders if e[condition] and e[condition] <= day]
        visits = {id(e): sorted(v for v in e["follow_ups"]
                                if v[1] == condition and day - YEAR < v[0] <= day)
                  for e in patients}
        managed = [e for e in patients if visits[id(e)]]
        standard = [e for e in managed if len(visits[id(e)]) >= 4]
        controlled = [e for e in managed if visits[id(e)][-1][2]]
        out.append(_rate(f"{condition}_management_rate", f"{label}患者健康管理率",
                         f"近一年有随访的{label}患者数 / {label}患者数",
                         len(managed), len(patients)))
        out.append(_rate(f"{condition}_standard_management_rate", f"{label}患者规范管理率",
                         f"近一年随访≥4次的{label}患者数 / 近一年有随访的{label}患者数",
                         len(standard), len(managed)))
        out.append(_rate(f"{condition}_control_rate", f"{label}控制率",
                         f"最近一次随访达标（{target}）人数 / 近一年有随访的{label}患者数",
                         len(controlled), len(managed)))
    out.append(_referrals(state, day))
    out.append(_incidents(elders, day))
    return {"as_of": day.isoformat(), "indicators": out}


def _referrals(state: State, day: date) -> dict[str, Any]:
    counts: dict[str, int] = {}
    to_accept, to_complete, overdue, total = [], [], 0, 0
    for r in state["referrals"].values():
        if r["requested"].date() > day:
            continue
        total += 1
        label = f"{'上转' if r['direction'] == 'up' else '下转'} {r['status']}"
        counts[label] = counts.get(label, 0) + 1
        overdue += r["overdue"]
        if r["accepted"]:
            to_accept.append((r["accepted"] - r["requested"]).total_seconds() / 3600)
        if r["completed"]:
            to_complete.append((r["completed"] - r["requested"]).total_seconds() / 3600)
    return {"key": "referrals", "name": "双向转诊", "formula": "按方向与状态计数；"
            "接收用时 = 接收时间 − 申请时间；完成用时 = 完成时间 − 申请时间（中位数，小时）",
            "numerator": total, "denominator": None, "value": total,
            "median_hours_to_acceptance": round(median(to_accept), 2) if to_accept else None,
            "median_hours_to_completion": round(median(to_complete), 2) if to_complete else None,
            "overdue": overdue,
            "breakdown": [{"label": k, "value": v} for k, v in sorted(counts.items())]}


def _incidents(elders: list[dict[str, Any]], day: date) -> dict[str, Any]:
    start = day - YEAR
    resident_days = 0
    incidents = 0
    for elder in elders:
        homes = set()
        for stay in elder["stays"].values():
            admitted = stay.get("admitted")
            if not admitted:
                continue
            left = stay.get("discharged") or day
            first, last = max(admitted, start + timedelta(days=1)), min(left, day)
            if last >= first:
                resident_days += (last - first).days + 1
                homes.add(stay["organisation"])
        incidents += sum(1 for d, org in elder["incidents"] if start < d <= day and org in homes)
    value = round(incidents * 1000 / resident_days, 3) if resident_days else None
    return {"key": "care_home_incident_rate", "name": "养老机构风险事件发生率（每千床日）",
            "formula": "近一年养老机构报告的风险事件数 × 1000 / 近一年在住床日数",
            "numerator": incidents, "denominator": resident_days, "value": value,
            "breakdown": []}
