"""身份证 validation, HL7 times and names."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from hub.identity import RESIDENT_ID_SYSTEM
from mappings import identifiers
from mappings.hl7v2 import datatypes

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _region_codes() -> list[str]:
    """Address codes python-stdnum knows (province lines, then their counties indented),
    those whose counties changed over the years first."""
    changed, steady = [], []
    province = ""
    for line in numdb._get_resource_stream("cn/loc.dat").read().decode("utf-8").splitlines():
        if line[:1].isdigit():
            province = line[:2]
        elif line.startswith("  ") and line[2:6].isdigit():
            (changed if "[" in line else steady).append(province + line[2:6])
    return changed[::10] + steady[::40]


def test_valid_resident_id_links_and_wrong_check_digit_does_not() -> None:
    assert identifiers.resident_id("11010519491231002X").linkable
    assert not identifiers.resident_id("110105194912310021").linkable


def test_a_number_whose_region_the_library_cannot_place_is_not_linkable_not_a_crash() -> None:
    """Found by bench/fuzz.py: python-stdnum raised KeyError for region 527193 (via the 15-digit
    upgrade), and the whole ORU^R01 crashed instead of being answered."""
    assert not identifiers.resident_id("527193101010019").linkable
    assert not identifiers.resident_id("527193191010100198").linkable


def _library_says_valid(value: str) -> bool:
    try:
        ric.validate(value)
    except (ValidationError, KeyError):
        return False
    return True


_ADDRESS_CODES = sorted({"110105", "442527", "527193", "310101", "000000", "999999",
                         *_region_codes()})


@settings(max_examples=3000, deadline=None)
@given(address=st.sampled_from(_ADDRESS_CODES), year=st.integers(0, 2100),
       month=st.integers(0, 13), day=st.integers(0, 32), serial=st.integers(0, 999),
       check=st.sampled_from("0123456789X"), noise=st.sampled_from(["", " ", "-", "x", "1"]))
def test_resident_id_check_is_the_library_s(address: str, year: int, month: int, day: int,
                                            serial: int, check: str, noise: str) -> None:
    """The remembered check (mappings/identifiers.py) agrees with python-stdnum's
    `ric.validate` on numbers of every kind: known and unknown address codes, counties
    renamed over the years, impossible dates, wrong check digits, stray characters."""
    body = f"{address}{year:04d}{month:02d}{day:02d}{serial:03d}"
    for value in (body + check, body + ric.calc_check_digit(body + "0"), noise + body + check,
                  (body + check)[:-1 - len(noise)] + noise):
        identifiers.resident_id_is_valid.cache_clear()
        assert identifiers.resident_id_is_valid(value) == _library_says_valid(value), value


def test_cx_identifier_types_map_to_systems() -> None:
    assert identifiers.from_cx("11010519491231002X", "NNCHN", "", "H1").system == RESIDENT_ID_SYSTEM
    assert identifiers.from_cx("MR9", "MR", "DGSY", "H1").system == "urn:yyhub:mrn:DGSY"
    assert identifiers.from_cx("MR9", "", "", "H1").system == "urn:yyhub:mrn:H1"


def test_timestamp_honours_offset_and_defaults_to_local_zone() -> None:
    assert datatypes.timestamp("20200101010101+0800", SHANGHAI) == datetime(
        2020, 1, 1, 1, 1, 1, tzinfo=timezone(timedelta(hours=8)))
    local = datatypes.timestamp("2001111112", SHANGHAI)
    assert local == datetime(2001, 11, 11, 12, tzinfo=SHANGHAI)
    assert datatypes.timestamp("198908181126+0215", SHANGHAI).utcoffset() == timedelta(
        hours=2, minutes=15)


@pytest.mark.parametrize("bad", ["2020-01-01", "20201301", "abc"])
def test_bad_timestamps_are_refused(bad: str) -> None:
    with pytest.raises(datatypes.BadValue):
        datatypes.timestamp(bad, SHANGHAI)


def test_dates_and_names() -> None:
    assert datatypes.day("19460315") == date(1946, 3, 15)
    assert datatypes.person_name("张", "秀英") == "张秀英"
    assert datatypes.person_name("Shaw", "Amy") == "Amy Shaw"
