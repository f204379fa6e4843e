"""身份证 validation, HL7 times and names."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from hub.identity import RESIDENT_ID_SYSTEM
from mappings import identifiers
from mappings.hl7v2 import datatypes

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_valid_resident_id_links_and_wrong_check_digit_does_not() -> None:
    assert identifiers.resident_id("11010519491231002X").linkable
    assert not identifiers.resident_id("110105194912310021").linkable


def test_a_number_whose_region_the_library_cannot_place_is_not_linkable_not_a_crash() -> None:
    """Found by bench/fuzz.py: python-stdnum raised KeyError for region 527193 (via the 15-digit
    upgrade), and the whole ORU^R01 crashed instead of being answered."""
    assert not identifiers.resident_id("527193101010019").linkable
    assert not identifiers.resident_id("527193191010100198").linkable


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
