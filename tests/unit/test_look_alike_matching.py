"""Look-alikes go to human review; different people are never proposed as one."""

from __future__ import annotations

from datetime import date

from bench.matching import evaluate
from mappings.identifiers import upgrade_legacy_resident_id
from mappings.matching import PersonRecord, compare

ZHANG = PersonRecord("a", "张秀英", date(1946, 3, 15), "2", "13800138000",
                     "广东省东莞市莞城区东正路12号")


def test_traditional_characters_and_homophones_are_the_same_name() -> None:
    assert compare(ZHANG, PersonRecord("b", "張秀英", date(1946, 3, 15), "2")).is_candidate
    homophone = compare(ZHANG, PersonRecord("c", "张秀瑛", date(1946, 3, 15), "2"))
    assert homophone.is_candidate and "姓名同音" in homophone.reasons


def test_swapped_day_and_month_is_still_a_candidate() -> None:
    assert "出生日期月日颠倒" in compare(
        PersonRecord("e", "李明", date(1950, 4, 7), "1"),
        PersonRecord("f", "李明", date(1950, 7, 4), "1")).reasons


def test_twin_sisters_at_one_address_are_not_proposed() -> None:
    sister = PersonRecord("g", "张秀兰", date(1946, 3, 15), "2", "13800138000",
                          "广东省东莞市莞城区东正路12号")
    assert not compare(ZHANG, sister).is_candidate


def test_two_different_valid_national_ids_are_two_people() -> None:
    a = PersonRecord("h", "王建国", date(1942, 8, 2), "1", resident_id="442527194208020035")
    b = PersonRecord("i", "王建国", date(1942, 8, 2), "1", resident_id="442527194208020051")
    assert compare(a, b).grade == "certainly-not"


def test_legacy_fifteen_digit_id_upgrades_to_the_same_person() -> None:
    assert upgrade_legacy_resident_id("442527460315002") == "442527194603150024"
    legacy = PersonRecord("j", "张秀英", resident_id="442527460315002")
    modern = PersonRecord("k", "张秀英", resident_id="442527194603150024")
    assert compare(legacy, modern).grade == "certain"


def test_labelled_population_meets_the_targets() -> None:
    result = evaluate(persons=400, seed=11)
    assert result["false_auto_links"] == 0
    assert result["candidate_recall"] >= 0.95
    assert result["candidate_precision"] >= 0.9
