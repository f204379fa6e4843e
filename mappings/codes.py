"""Code systems the hub normalises to: GB/T 2261.1 sex, GB 3304 ethnicity, and their loaders."""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

from hub.values import Coding

SEX_SYSTEM = "urn:oid:2.16.156.10011.2.3.3.4"  # GB/T 2261.1 生理性别
ETHNICITY_SYSTEM = "urn:oid:2.16.156.10011.2.3.3.3"  # GB 3304 民族
SEX_NAMES = {"0": "未知的性别", "1": "男", "2": "女", "9": "未说明的性别"}

# HL7 table 0001 and the forms Chinese senders use, to GB/T 2261.1.
_SEX_FROM_SENDER = {
    "M": "1", "F": "2", "U": "0", "O": "9", "A": "9", "N": "9",
    "1": "1", "2": "2", "0": "0", "9": "9", "男": "1", "女": "2",
    "MALE": "1", "FEMALE": "2", "UNKNOWN": "0", "OTHER": "9",
}


def sex(value: str) -> Coding | None:
    """GB/T 2261.1 sex from an HL7 0001 code, a GB code or a Chinese word; None if empty."""
    value = value.strip()
    if not value:
        return None
    code = _SEX_FROM_SENDER.get(value.upper())
    if code is None:
        return None
    return Coding(SEX_SYSTEM, code, SEX_NAMES[code])


@cache
def ethnicities() -> dict[str, str]:
    """GB 3304 code → name, from the package's data file."""
    text = resources.files("mappings").joinpath("data/gb3304_ethnicity.csv").read_text("utf-8")
    return {row["code"]: row["name"] for row in csv.DictReader(text.splitlines())}


def ethnicity(code: str, text: str = "") -> Coding | None:
    """GB 3304 ethnicity by code or, for senders that renumber, by name."""
    table = ethnicities()
    code, text = code.strip(), text.strip()
    if code in table:
        return Coding(ETHNICITY_SYSTEM, code, table[code])
    by_name = {name: c for c, name in table.items()}
    for candidate in (text, code, code + "族", text + "族"):
        if candidate in by_name:
            return Coding(ETHNICITY_SYSTEM, by_name[candidate], candidate)
    return None
