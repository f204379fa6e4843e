"""Ability assessment scoring: GB/T 42195-2022 items → domain scores → total → level.

Pure functions. The level is computed once, when the assessment arrives, and travels with the
event together with the standard version; history is never re-scored when the rules change.
MZ/T 039-2013 and Barthel assessments are kept with their own standard version and the level the
source gave (Barthel gets its raw total and a band, see DOMAIN.md §2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.values import Problem
from mappings.errors import MappingError

GBT_42195 = "GB/T 42195-2022"
MZT_039 = "MZ/T 039-2013"
BARTHEL = "Barthel"

# GB/T 42195-2022 Annex B: domain → ((item code, name, maximum), ...).
GBT_42195_DOMAINS: dict[str, tuple[tuple[str, str, int], ...]] = {
    "B1": (("B1.1", "进食", 4), ("B1.2", "修饰", 4), ("B1.3", "洗澡", 4),
           ("B1.4", "穿/脱上衣", 4), ("B1.5", "穿/脱裤子和鞋袜", 4), ("B1.6", "小便控制", 4),
           ("B1.7", "大便控制", 4), ("B1.8", "如厕", 4)),
    "B2": (("B2.1", "床上体位转移", 4), ("B2.2", "床椅转移", 4), ("B2.3", "平地行走", 4),
           ("B2.4", "上下楼梯", 3)),
    "B3": (("B3.1", "时间定向", 4), ("B3.2", "空间定向", 4), ("B3.3", "人物定向", 4),
           ("B3.4", "记忆", 4), ("B3.5", "理解能力", 4), ("B3.6", "表达能力", 4),
           ("B3.7", "攻击行为", 1), ("B3.8", "抑郁症状", 1), ("B3.9", "意识水平", 2)),
    "B4": (("B4.1", "视力", 2), ("B4.2", "听力", 2), ("B4.3", "执行日常事务", 4),
           ("B4.4", "使用交通工具外出", 3), ("B4.5", "社会交往能力", 4)),
}
DOMAIN_NAMES = {"B1": "自理能力", "B2": "基础运动能力", "B3": "精神状态",
                "B4": "感知觉与社会参与"}
ITEMS = {code: (name, maximum) for items in GBT_42195_DOMAINS.values()
         for code, name, maximum in items}
_ITEM_BY_NAME = {name: code for code, (name, _) in ITEMS.items()}

# Level codes 0..4, from the standard's names.
GBT_LEVELS = ("能力完好", "能力轻度受损(轻度失能)", "能力中度受损(中度失能)",
              "能力重度受损(重度失能)", "能力完全丧失(完全失能)")
MZT_LEVELS = ("能力完好", "轻度失能", "中度失能", "重度失能")
BARTHEL_BANDS = ((100, "无需依赖"), (61, "轻度依赖"), (41, "中度依赖"), (0, "重度依赖"))
BARTHEL_ITEMS: dict[str, tuple[str, tuple[int, ...]]] = {
    "83184-2": ("进食", (0, 5, 10)), "83181-8": ("洗澡", (0, 5)), "96767-9": ("修饰", (0, 5)),
    "83182-6": ("穿衣", (0, 5, 10)), "96759-6": ("大便控制", (0, 5, 10)),
    "96760-4": ("小便控制", (0, 5, 10)), "83183-4": ("如厕", (0, 5, 10)),
    "83185-9": ("床椅转移", (0, 5, 10, 15)), "83186-7": ("平地行走", (0, 5, 10, 15)),
    "96758-8": ("上下楼梯", (0, 5, 10)),
}
_BARTHEL_BY_NAME = {name: code for code, (name, _) in BARTHEL_ITEMS.items()}


@dataclass(frozen=True)
class AssessmentResult:
    """Scores and level as computed under one standard version."""

    standard_version: str
    item_scores: tuple[tuple[str, int], ...]
    domain_scores: tuple[tuple[str, int], ...]
    total: int
    initial_level: int
    level: int
    level_display: str
    adjustments: tuple[str, ...]


def initial_level(total: int) -> int:
    """The level from the total alone: 90 完好, 66–89 轻度, 46–65 中度, 30–45 重度, 0–29 完全."""
    if total >= 90:
        return 0
    if total >= 66:
        return 1
    if total >= 46:
        return 2
    if total >= 30:
        return 3
    return 4


def is_dementia(icd10: str) -> bool:
    """确诊痴呆: ICD-10 F00–F03."""
    return _f_number(icd10) in range(0, 4)


def is_other_mental_disorder(icd10: str) -> bool:
    """精神科专科医生诊断的其他精神和行为障碍: ICD-10 F04–F99."""
    return _f_number(icd10) in range(4, 100)


def _f_number(icd10: str) -> int:
    match = re.fullmatch(r"F(\d\d)(\.\w*)?", icd10.strip().upper())
    return int(match.group(1)) if match else -1


def adjusted_level(level: int, *, coma: bool = False, diagnoses: tuple[str, ...] = (),
                   risk_events_30d: int = 0) -> tuple[int, tuple[str, ...]]:
    """Apply the 等级变更 rules: coma → 完全失能; mental diagnosis +1; ≥2 risk events +1.

    The raises stack and never go beyond 完全失能.
    """
    if coma:
        return 4, ("昏迷: 直接评定为能力完全丧失",)
    reasons: list[str] = []
    dementia = [d for d in diagnoses if is_dementia(d)]
    mental = [d for d in diagnoses if is_other_mental_disorder(d)]
    if dementia or mental:
        level += 1
        kind = "痴呆" if dementia else "其他精神和行为障碍"
        reasons.append(f"{kind} ({', '.join(dementia or mental)}): 提高一个等级")
    if risk_events_30d >= 2:
        level += 1
        reasons.append(f"近30天照护风险事件 {risk_events_30d} 次: 提高一个等级")
    return min(level, 4), tuple(reasons)


# 照护风险事件 that count towards the 近30天 ≥2 rule: 跌倒, 噎食, 自杀自伤, 走失.
RISK_EVENT_TYPES = ("fall", "choking", "self_harm", "wandering")


def count_risk_events(incidents: Iterable[tuple[datetime, str]], at: datetime,
                      days: int = 30) -> int:
    """Care-risk events (occurred_at, incident type code) in the `days` before `at`."""
    since = at - timedelta(days=days)
    return sum(1 for when, kind in incidents if kind in RISK_EVENT_TYPES and since <= when <= at)


def item_code(name_or_code: str) -> str:
    """An item's code from its code (B1.1) or its Chinese name (进食)."""
    key = name_or_code.strip()
    return key.upper() if key.upper() in ITEMS else _ITEM_BY_NAME.get(key, key)


def score_gbt_42195(items: Mapping[str, int], *, coma: bool = False,
                    diagnoses: tuple[str, ...] = (), risk_events_30d: int = 0,
                    location: str = "items") -> AssessmentResult:
    """Score all 26 GB/T 42195-2022 items; raises MappingError naming a missing or bad item."""
    scores = {item_code(k): v for k, v in items.items()}
    problems = []
    for code, (name, maximum) in ITEMS.items():
        value = scores.get(code)
        if value is None:
            problems.append(Problem("item-missing", f"item {code} {name} has no score", location))
        elif not 0 <= value <= maximum:
            problems.append(Problem("item-out-of-range",
                                    f"item {code} {name} scores 0–{maximum}, not {value}",
                                    location))
    unknown = sorted(set(scores) - set(ITEMS))
    if unknown:
        problems.append(Problem("item-unknown", f"unknown items: {', '.join(unknown)}", location))
    if problems:
        raise MappingError(tuple(problems))
    domains = tuple((d, sum(scores[c] for c, _, _ in items))
                    for d, items in GBT_42195_DOMAINS.items())
    total = sum(score for _, score in domains)
    first = initial_level(total)
    level, reasons = adjusted_level(first, coma=coma, diagnoses=diagnoses,
                                    risk_events_30d=risk_events_30d)
    return AssessmentResult(GBT_42195, tuple((c, scores[c]) for c in ITEMS), domains, total,
                            first, level, GBT_LEVELS[level], reasons)


def barthel(items: Mapping[str, int], location: str = "items") -> AssessmentResult:
    """Barthel index: the raw total of the 10 items and its band (100/61–99/41–60/≤40)."""
    scores = {_BARTHEL_BY_NAME.get(k.strip(), k.strip()): v for k, v in items.items()}
    problems = []
    for code, (name, allowed) in BARTHEL_ITEMS.items():
        if scores.get(code) not in allowed:
            problems.append(Problem("item-out-of-range",
                                    f"Barthel {name} ({code}) must be one of {allowed}, "
                                    f"not {scores.get(code)}", location))
    if problems:
        raise MappingError(tuple(problems))
    total = sum(scores[c] for c in BARTHEL_ITEMS)
    band = next(i for i, (floor, _) in enumerate(BARTHEL_BANDS) if total >= floor)
    return AssessmentResult(BARTHEL, tuple((c, scores[c]) for c in BARTHEL_ITEMS), (), total,
                            band, band, BARTHEL_BANDS[band][1], ())


def mzt_039(level: int, adl_score: int | None = None, location: str = "level") -> AssessmentResult:
    """MZ/T 039-2013: kept as the source graded it (0 完好 … 3 重度失能), never re-scored."""
    if not 0 <= level <= 3:
        raise MappingError(Problem("level-out-of-range",
                                   f"MZ/T 039-2013 levels are 0–3, not {level}", location))
    items = (("ADL", adl_score),) if adl_score is not None else ()
    return AssessmentResult(MZT_039, items, (), adl_score or 0, level, level, MZT_LEVELS[level],
                            ())
