"""HL7 v2 data types the mappings read: DTM/TS timestamps, DT dates, XPN names, XAD addresses."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache

_DTM = re.compile(
    r"^(?P<y>\d{4})(?P<m>\d{2})?(?P<d>\d{2})?(?P<H>\d{2})?(?P<M>\d{2})?(?P<S>\d{2})?"
    r"(?:\.(?P<f>\d{1,4}))?(?P<tz>[+-]\d{4})?$")


class BadValue(ValueError):
    """Raised when a field's value is not of its HL7 data type."""


@lru_cache(maxsize=4096)
def timestamp(value: str, local_zone: tzinfo) -> datetime | None:
    """An instant from DTM/TS; a value without offset is in the sender's local zone.

    Remembered (datetimes are immutable): a message repeats its times, every OBX of a
    result carrying the report's, and parsing them was a tenth of an ORU's mapping."""
    value = value.strip()
    if not value:
        return None
    match = _DTM.match(value)
    if not match:
        raise BadValue(f"{value!r} is not an HL7 date/time (YYYY[MM[DD[HHMM[SS[.S]]]]][+ZZZZ])")
    g = match.groupdict()
    zone: tzinfo = local_zone
    if g["tz"]:
        sign = 1 if g["tz"][0] == "+" else -1
        hours, minutes = int(g["tz"][1:3]), int(g["tz"][3:5])
        if hours > 14 or minutes > 59:
            raise BadValue(f"{value!r} has an impossible offset")
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    fraction = (g["f"] or "0").ljust(6, "0")
    try:
        return datetime(int(g["y"]), int(g["m"] or 1), int(g["d"] or 1), int(g["H"] or 0),
                        int(g["M"] or 0), int(g["S"] or 0), int(fraction), tzinfo=zone)
    except ValueError as error:
        raise BadValue(f"{value!r}: {error}") from error


def day(value: str) -> date | None:
    """A calendar date from DT (or the date part of a DTM), keeping no time zone."""
    value = value.strip()
    if not value:
        return None
    if not re.match(r"^\d{8}", value):
        raise BadValue(f"{value!r} is not an HL7 date (YYYYMMDD)")
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError as error:
        raise BadValue(f"{value!r}: {error}") from error


def has_cjk(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)


def person_name(family: str, given: str, middle: str = "") -> str:
    """张 + 秀英 → 张秀英; Amy + Shaw → Amy Shaw."""
    if has_cjk(family + given):
        return f"{family}{given}{middle}"
    return " ".join(p for p in (given, middle, family) if p)


def address(street: str, other: str, city: str, state: str, postal: str, country: str,
            county: str = "") -> str:
    """One line in the order its language expects: 省市区街道 for Chinese, else street first."""
    if has_cjk(street + city + state + county):
        return "".join(p for p in (state, city, county, street, other) if p)
    parts = [street, other, city, " ".join(p for p in (state, postal) if p), country]
    return ", ".join(p for p in parts if p)
