"""Identifier systems: which URI a sender's identifier belongs to, and whether it may link records.

身份证 numbers are checked with python-stdnum (GB 11643 check digit and birth date); a number that
fails is kept on the record but never used to link two records.
"""

from __future__ import annotations

import functools

from stdnum.cn import ric
from stdnum.exceptions import ValidationError
from stdnum.util import isdigits

from hub.identity import (
    HEALTH_CARD_SYSTEM,
    HEALTH_RECORD_SYSTEM,
    RESIDENT_ID_SYSTEM,
    SOCIAL_SECURITY_CARD_SYSTEM,
)
from hub.values import Identifier

MRN_PREFIX = "urn:yyhub:mrn:"

# HL7 identifier type codes (table 0203) and authority names Chinese senders use.
_RESIDENT_ID_TYPES = {"NNCHN", "NI", "CIN", "ID", "RI"}
_RESIDENT_ID_AUTHORITIES = {"身份证", "居民身份证", "公民身份号码", "CHN", "GA", "公安部",
                            "2.16.156.10011.1.3"}
_HEALTH_CARD_TYPES = {"HC", "JKK"}
_HEALTH_CARD_AUTHORITIES = {"居民健康卡", "电子健康卡", "健康卡", "2.16.156.10011.1.19"}
_SOCIAL_SECURITY_TYPES = {"SS", "SB", "SSN"}
_SOCIAL_SECURITY_AUTHORITIES = {"社保卡", "社会保障卡", "人社", "医保卡"}
_HEALTH_RECORD_AUTHORITIES = {"健康档案", "2.16.156.10011.1.2"}


def mrn_system(authority: str) -> str:
    """The system of an organisation's own record numbers."""
    return MRN_PREFIX + authority.strip()


@functools.lru_cache(maxsize=65536)
def resident_id_is_valid(value: str) -> bool:
    """GB 11643-1999: 18 characters, a real birth date, a county that existed in the birth
    year, ISO 7064 MOD 11-2 check digit: python-stdnum's `ric.validate`, in its order.

    Remembered, and the county is looked up once per address code and year: the library's
    region table lookup costs more than the rest of reading a message, and a city's new
    people share a few hundred address codes. `test_resident_id_check_is_the_library_s`
    proves this equal to `ric.validate`."""
    try:
        number = ric.compact(value)
        if len(number) != 18 or not isdigits(number[:-1]) \
                or number[-1] != ric.calc_check_digit(number):
            return False
        born = ric.get_birth_date(number)
    except ValidationError:
        return False
    return _county_existed(number[:6], born.year)


@functools.lru_cache(maxsize=65536)
def _county_existed(address_code: str, year: int) -> bool:
    """Whether python-stdnum places an address code in a county that existed that year."""
    try:
        # The library reads only the address code and the birth year of the number.
        ric.get_birth_place(f"{address_code}{year:04d}0101000X")
    except (ValidationError, KeyError):
        # KeyError: python-stdnum's region table has codes without a county (found by
        # bench/fuzz.py: 527193…, a 15-digit number upgraded); such a number is not valid.
        return False
    return True


def upgrade_legacy_resident_id(value: str) -> str | None:
    """A 15-digit 身份证号 (GB 11643-1989) as its 18-digit form: "19" after the 6-digit
    address code and the MOD 11-2 check digit at the end; None if it is not one."""
    value = value.strip()
    if len(value) != 15 or not value.isdigit():
        return None
    first17 = value[:6] + "19" + value[6:]
    upgraded = first17 + ric.calc_check_digit(first17 + "0")
    return upgraded if resident_id_is_valid(upgraded) else None


def resident_id(value: str) -> Identifier:
    """A 身份证 identifier, marked not linkable when it fails validation; a legacy 15-digit
    number is upgraded to its 18-digit form."""
    value = value.strip().upper()
    value = upgrade_legacy_resident_id(value) or value
    return Identifier(RESIDENT_ID_SYSTEM, value, linkable=resident_id_is_valid(value))


def from_cx(value: str, type_code: str, authority: str, default_authority: str) -> Identifier:
    """Classify an HL7 CX identifier by its type code and assigning authority."""
    value, type_code, authority = value.strip(), type_code.strip().upper(), authority.strip()
    if type_code in _RESIDENT_ID_TYPES or authority in _RESIDENT_ID_AUTHORITIES:
        return resident_id(value)
    if type_code in _HEALTH_CARD_TYPES or authority in _HEALTH_CARD_AUTHORITIES:
        return Identifier(HEALTH_CARD_SYSTEM, value)
    if type_code in _SOCIAL_SECURITY_TYPES or authority in _SOCIAL_SECURITY_AUTHORITIES:
        return Identifier(SOCIAL_SECURITY_CARD_SYSTEM, value)
    if authority in _HEALTH_RECORD_AUTHORITIES:
        return Identifier(HEALTH_RECORD_SYSTEM, value)
    return Identifier(mrn_system(authority or default_authority), value)
