"""Look-alike scoring for person records that share no strong identifier (一码通用 review).

A pure, explainable score: each agreeing or disagreeing field adds or subtracts points and says
why. Names are compared in simplified form (繁→简 by zhconv) and by sound (toneless pinyin by
pypinyin), so 张秀英/張秀英/张秀瑛 come together; dates tolerate a swapped day and month and a
mistyped digit; two different valid 身份证 numbers mean two people. Scores never link records
on their own: they only put a candidate pair in front of an operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import zhconv
from pypinyin import lazy_pinyin
from rapidfuzz.distance import Levenshtein
from rapidfuzz.fuzz import ratio

from mappings.identifiers import resident_id_is_valid, upgrade_legacy_resident_id

PROBABLE = 60
POSSIBLE = 45


@dataclass(frozen=True)
class PersonRecord:
    """What one source says about a person, as far as matching needs it."""

    record_id: str
    name: str = ""
    birth_date: date | None = None
    sex: str = ""  # GB/T 2261.1 code
    phone: str = ""
    address: str = ""
    resident_id: str = ""


@dataclass(frozen=True)
class Match:
    """How alike two records are: a score, a FHIR match grade, and the reasons."""

    score: int
    grade: str  # certain | probable | possible | certainly-not
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_candidate(self) -> bool:
        return self.grade in ("probable", "possible")


@lru_cache(maxsize=65536)
def simplified(name: str) -> str:
    """Simplified characters, no spaces or middle dots, full-width folded."""
    name = "".join(ch for ch in name if not ch.isspace() and ch not in "·•.")
    return zhconv.convert(name, "zh-cn")


@lru_cache(maxsize=65536)
def sound(name: str) -> str:
    """Toneless pinyin of the whole name: homophones (秀英/秀瑛) sound the same."""
    return " ".join(lazy_pinyin(simplified(name)))


def normalised_resident_id(value: str) -> str:
    value = value.strip().upper()
    if len(value) == 15:
        return upgrade_legacy_resident_id(value) or value
    return value


def _dates(a: date | None, b: date | None) -> tuple[int, str]:
    if a is None or b is None:
        return 0, ""
    if a == b:
        return 25, "出生日期相同"
    if a.year == b.year and a.month == b.day and a.day == b.month:
        return 15, "出生日期月日颠倒"
    if Levenshtein.distance(a.strftime("%Y%m%d"), b.strftime("%Y%m%d")) == 1:
        return 10, "出生日期差一位数字"
    if a.year == b.year:
        return -5, "出生年份相同但日期不同"
    return -20, "出生日期不同"


def compare(a: PersonRecord, b: PersonRecord) -> Match:
    """Score two records; explain every point."""
    reasons: list[str] = []
    score = 0
    id_a, id_b = normalised_resident_id(a.resident_id), normalised_resident_id(b.resident_id)
    valid_a, valid_b = resident_id_is_valid(id_a), resident_id_is_valid(id_b)
    if id_a and id_b:
        if id_a == id_b and valid_a:
            return Match(100, "certain", ("身份证号相同",))
        if valid_a and valid_b:
            return Match(-100, "certainly-not", ("两个不同的有效身份证号",))
        if Levenshtein.distance(id_a, id_b) <= 2:
            score += 35
            reasons.append("身份证号仅差一两位（其一校验不通过）")
    name_a, name_b = simplified(a.name), simplified(b.name)
    if name_a and name_b:
        if name_a == name_b:
            score += 30
            reasons.append("姓名相同" if a.name == b.name else "姓名繁简不同但相同")
        elif sound(a.name) == sound(b.name):
            score += 22
            reasons.append("姓名同音")
        elif Levenshtein.distance(name_a, name_b) == 1 and len(name_a) >= 2:
            # Siblings share a character (秀英/秀兰) far more often than typos make one.
            score -= 10
            reasons.append("姓名差一字（非同音）")
        else:
            score -= 25
            reasons.append("姓名不同")
    points, why = _dates(a.birth_date, b.birth_date)
    score += points
    if why:
        reasons.append(why)
    if a.sex and b.sex and a.sex in "12" and b.sex in "12":
        if a.sex == b.sex:
            score += 5
        else:
            score -= 30
            reasons.append("性别不同")
    if a.phone and b.phone and a.phone == b.phone:
        score += 15
        reasons.append("电话相同")
    if a.address and b.address and ratio(simplified(a.address), simplified(b.address)) >= 85:
        score += 8
        reasons.append("住址相近")
    grade = ("probable" if score >= PROBABLE else "possible" if score >= POSSIBLE
             else "certainly-not")
    return Match(score, grade, tuple(reasons))


def blocking_keys(record: PersonRecord) -> set[str]:
    """Records are compared only when they share a key: the same sound of surname and birth
    year, the same birth date, the same full-name sound, the same phone, or an ID prefix."""
    keys = set()
    spoken = sound(record.name).split(" ")
    if record.birth_date and spoken[0]:
        keys.add(f"sy:{spoken[0]}:{record.birth_date.year}")
    if record.birth_date:
        keys.add(f"bd:{record.birth_date.isoformat()}")
        month_day = sorted((record.birth_date.month, record.birth_date.day))
        keys.add(f"md:{record.birth_date.year}:{month_day}")
    if record.name:
        keys.add(f"nm:{sound(record.name)}")
    if record.phone:
        keys.add(f"ph:{record.phone}")
    rid = normalised_resident_id(record.resident_id)
    if len(rid) == 18:
        keys.add(f"id:{rid[:14]}")
    return keys
