"""Records as senders write them become facts; mistakes are named by row and column."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from hub.facts import AbilityAssessment, FollowUp, Observation
from mappings import assessment
from mappings.errors import MappingError
from mappings.record_files import read_rows
from mappings.records import record_from
from tests.care_records import ZHANG, csv_bytes

ZONE = ZoneInfo("Asia/Shanghai")
FULL_ITEMS = ";".join(f"{name}={maximum}" for name, maximum in assessment.ITEMS.values())


def one(record: dict) -> object:
    [row] = read_rows(csv_bytes([record]), "text/csv")
    return record_from(row.record, row.where, ZONE)


def base(record_type: str, **fields: object) -> dict:
    return {"organisation": "DGYL-01", "record_id": "R1", "record_type": record_type,
            "resident_id": ZHANG, "name": "张秀英", "occurred_at": "2025-07-01 15:00", **fields}


def facts(record: dict) -> list:
    return [d.fact for d in one(record).mapped.subjects[0].facts]  # type: ignore[attr-defined]


def test_a_care_home_assessment_with_dementia_is_raised_one_level_and_says_why() -> None:
    [fact] = facts(base("能力评估", items=FULL_ITEMS, diagnoses="F03"))
    assert isinstance(fact, AbilityAssessment)
    assert (fact.standard_version, fact.total, fact.level_display) == \
        ("GB/T 42195-2022", 90, "能力轻度受损(轻度失能)")
    assert fact.adjustments == ("痴呆 (F03): 提高一个等级",)
    assert [d.score for d in fact.domains] == [32, 15, 28, 15]


def test_legacy_mzt_039_and_barthel_assessments_keep_their_own_standard() -> None:
    [mzt] = facts(base("assessment", standard="MZ/T 039-2013", level="2", adl_score="55"))
    assert (mzt.standard_version, mzt.level_display) == ("MZ/T 039-2013", "中度失能")
    barthel = "进食=10;洗澡=5;修饰=5;穿衣=10;大便控制=10;小便控制=10;如厕=10;床椅转移=15;" \
              "平地行走=15;上下楼梯=10"
    [adl] = facts(base("assessment", standard="Barthel", items=barthel))
    assert (adl.standard_version, adl.total, adl.level_display) == ("Barthel", 100, "无需依赖")


def test_an_item_above_its_maximum_is_named_with_the_column() -> None:
    with pytest.raises(MappingError) as error:
        one(base("assessment", items=FULL_ITEMS.replace("上下楼梯=3", "上下楼梯=4")))
    [problem] = error.value.problems
    assert (problem.location, problem.message) == \
        ("row 2, column 评估条目", "item B2.4 上下楼梯 scores 0–3, not 4")


def test_a_hypertension_follow_up_gives_the_visit_and_its_readings() -> None:
    found = facts(base("follow_up", programme="高血压", systolic="152", diastolic="94",
                       weight="58.5", adherence="2", classification="2"))
    follow_up = found[0]
    assert isinstance(follow_up, FollowUp)
    assert (follow_up.programme, follow_up.classification.display, follow_up.adherence.display) \
        == ("hypertension", "控制不满意", "间断")
    codes = [f.code.code for f in found if isinstance(f, Observation)]
    assert codes == ["85354-9", "29463-7"]


def test_every_mistake_in_a_row_is_reported_by_its_column() -> None:
    record = base("contract", action="解约", contract_id="HT-1", reason_code="7",
                  occurred_at="2025-13-01")
    with pytest.raises(MappingError) as error:
        one(record)
    assert {p.location for p in error.value.problems} == {"row 2, column 发生时间",
                                                          "row 2, column 解约原因"}


def test_an_unknown_record_type_is_refused() -> None:
    with pytest.raises(MappingError, match="'体检报告' is not a known record type"):
        one(base("体检报告"))


def test_an_annual_check_for_someone_under_65_is_kept_with_a_warning() -> None:
    from tests.messages import resident_id

    young = resident_id("442527", "19650101", "011")
    mapped = one(base("annual_check", resident_id=young, occurred_at="2025-05-08 08:30",
                      conclusion="未见异常"))
    [warning] = mapped.mapped.warnings  # type: ignore[attr-defined]
    assert (warning.severity, warning.location) == ("warning", "row 2, column 身份证号")
    assert "this elder was 60" in warning.message
