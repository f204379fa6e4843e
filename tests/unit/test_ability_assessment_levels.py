"""Ability assessment levels, checked against totals and levels computed by hand.

Each case lists every item score of GB/T 42195-2022 Annex B (8 自理能力, 4 基础运动能力, 9 精神状态,
5 感知觉与社会参与), the total added up by hand, and the level the standard's table gives.
"""

from __future__ import annotations

import pytest

from mappings import assessment
from mappings.errors import MappingError


def items(b1: list[int], b2: list[int], b3: list[int], b4: list[int]) -> dict[str, int]:
    codes = [code for domain in assessment.GBT_42195_DOMAINS.values() for code, _, _ in domain]
    return dict(zip(codes, [*b1, *b2, *b3, *b4], strict=True))


FULL = items([4] * 8, [4, 4, 4, 3], [4, 4, 4, 4, 4, 4, 1, 1, 2], [2, 2, 4, 3, 4])  # 32+15+28+15
AT_66 = items([4] * 8, [4, 4, 4, 3], [2, 2, 2, 2, 2, 2, 1, 1, 2], [1, 1, 1, 0, 0])  # 32+15+16+3
AT_65 = items([4] * 8, [4, 4, 4, 3], [2, 2, 2, 2, 2, 2, 1, 1, 2], [1, 1, 0, 0, 0])  # 32+15+16+2
AT_46 = items([2] * 8, [2, 2, 2, 1], [2, 2, 2, 2, 2, 2, 1, 1, 2], [2, 1, 2, 1, 1])  # 16+7+16+7
AT_45 = items([2] * 8, [2, 2, 2, 1], [2, 2, 2, 2, 2, 2, 1, 1, 2], [2, 1, 2, 1, 0])  # 16+7+16+6
AT_30 = items([1] * 8, [1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1, 2], [2, 2, 2, 1, 1])  # 8+4+10+8
AT_29 = items([1] * 8, [1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1, 2], [2, 2, 1, 1, 1])  # 8+4+10+7
NOTHING = items([0] * 8, [0] * 4, [0] * 9, [0] * 5)
AT_89 = {**FULL, "B1.1": 3}

CASES = [
    # (story, items, adjustments, total, level)
    ("fully able elder scores 90", FULL, {}, 90, "能力完好"),
    ("one point short of 90 is mildly impaired", AT_89, {}, 89, "能力轻度受损(轻度失能)"),
    ("66 is the floor of mild", AT_66, {}, 66, "能力轻度受损(轻度失能)"),
    ("65 is moderate", AT_65, {}, 65, "能力中度受损(中度失能)"),
    ("46 is the floor of moderate", AT_46, {}, 46, "能力中度受损(中度失能)"),
    ("45 is severe", AT_45, {}, 45, "能力重度受损(重度失能)"),
    ("30 is the floor of severe", AT_30, {}, 30, "能力重度受损(重度失能)"),
    ("29 is complete loss", AT_29, {}, 29, "能力完全丧失(完全失能)"),
    ("no item scored is complete loss", NOTHING, {}, 0, "能力完全丧失(完全失能)"),
    ("coma makes any total complete loss", FULL, {"coma": True}, 90, "能力完全丧失(完全失能)"),
    ("diagnosed dementia raises one level", FULL, {"diagnoses": ("F03",)}, 90,
     "能力轻度受损(轻度失能)"),
    ("another mental disorder raises one level", AT_66, {"diagnoses": ("F32.1",)}, 66,
     "能力中度受损(中度失能)"),
    ("two falls in 30 days raise one level", AT_46, {"risk_events_30d": 2}, 46,
     "能力重度受损(重度失能)"),
    ("one fall in 30 days changes nothing", AT_46, {"risk_events_30d": 1}, 46,
     "能力中度受损(中度失能)"),
    ("dementia and repeated falls raise two levels", AT_46,
     {"diagnoses": ("F00.1",), "risk_events_30d": 3}, 46, "能力完全丧失(完全失能)"),
    ("raises never go beyond complete loss", AT_45,
     {"diagnoses": ("F01",), "risk_events_30d": 2}, 45, "能力完全丧失(完全失能)"),
    ("a non-mental diagnosis changes nothing", AT_65, {"diagnoses": ("I10",)}, 65,
     "能力中度受损(中度失能)"),
]


@pytest.mark.parametrize(("story", "scores", "adjust", "total", "level"), CASES,
                         ids=[c[0] for c in CASES])
def test_assessor_sees_the_level_the_standard_gives(story: str, scores: dict[str, int],
                                                    adjust: dict, total: int, level: str) -> None:
    result = assessment.score_gbt_42195(scores, **adjust)
    assert result.total == total
    assert result.level_display == level
    assert result.standard_version == "GB/T 42195-2022"
    assert sum(score for _, score in result.domain_scores) == total


def test_domain_scores_are_kept_per_domain() -> None:
    result = assessment.score_gbt_42195(AT_46)
    assert dict(result.domain_scores) == {"B1": 16, "B2": 7, "B3": 16, "B4": 7}


def test_items_may_be_named_in_chinese() -> None:
    named = {assessment.ITEMS[code][0]: score for code, score in AT_66.items()}
    assert assessment.score_gbt_42195(named).total == 66


def test_a_score_above_the_item_maximum_is_refused_naming_the_item() -> None:
    with pytest.raises(MappingError, match="B2.4 上下楼梯 scores 0–3, not 4"):
        assessment.score_gbt_42195({**FULL, "B2.4": 4})


def test_a_missing_item_is_refused_naming_the_item() -> None:
    partial = {k: v for k, v in FULL.items() if k != "B3.9"}
    with pytest.raises(MappingError, match="B3.9 意识水平 has no score"):
        assessment.score_gbt_42195(partial)


def test_barthel_is_kept_as_its_own_standard_with_its_band() -> None:
    scores = {"83184-2": 10, "83181-8": 0, "96767-9": 5, "83182-6": 5, "96759-6": 10,
              "96760-4": 5, "83183-4": 5, "83185-9": 10, "83186-7": 10, "96758-8": 0}
    result = assessment.barthel(scores)
    assert (result.standard_version, result.total, result.level_display) == \
        ("Barthel", 60, "中度依赖")


def test_mzt_039_level_is_kept_as_graded_by_the_source() -> None:
    result = assessment.mzt_039(2, adl_score=55)
    assert (result.standard_version, result.level, result.level_display) == \
        ("MZ/T 039-2013", 2, "中度失能")
