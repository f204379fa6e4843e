"""Family doctors and care homes send files of records; each record becomes facts exactly once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.bootstrap import Hub, bootstrap
from adapters.cli import cli
from adapters.settings import Settings
from mappings.errors import UnreadableMessage
from mappings.record_files import read_rows
from tests.care_records import ZHANG, contract, csv_bytes, vital_signs

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


def test_sample_files_in_docs_ingest_cleanly_and_a_second_run_creates_nothing(
        database_url: str) -> None:
    expected = sum(len(read_rows(p.read_bytes(), filename=p.name))
                   for p in SAMPLES.iterdir())
    runner = CliRunner()
    env = {"YYHUB_DATABASE_URL": database_url, "COLUMNS": "200"}
    first = runner.invoke(cli, ["ingest", str(SAMPLES)], env=env)
    assert first.exit_code == 0, first.output
    assert f"accepted {expected}, duplicate 0, rejected 0" in first.output
    second = runner.invoke(cli, ["ingest", str(SAMPLES)], env=env)
    assert f"accepted 0, duplicate {expected}, rejected 0" in second.output

    hub = bootstrap(Settings(database_url=database_url))
    try:
        hub.projector.catch_up()
        elder = hub.read_model.find_elders("44252719421120031X")[0]
        entries = hub.read_model.timeline(elder["id"], limit=500)
        summaries = [e["summary"] for e in entries]
        # GB18030 file: Chinese survives the round trip; nothing was recorded twice.
        assert "风险事件: 跌倒 轻度 夜间如厕时滑倒，右膝擦伤" in summaries
        assert len(summaries) == len(set((e["summary"], e["occurred_at"]) for e in entries))
        profile = hub.read_model.profile(elder["id"])
        assert profile["latest_assessment"]["level_display"] == "能力中度受损(中度失能)"
        assert profile["current_care_home"]["event"] == "discharged"
        assert profile["care_level"]["to_level"] == "二级护理"
    finally:
        hub.close()


def fifty_rows_three_bad() -> list[dict]:
    rows = [vital_signs(f"TZ-{i:03}", f"2025-08-{1 + i % 28:02} 08:00", 120 + i % 20, 80)
            for i in range(50)]
    rows[9]["systolic"] = "abc"
    rows[24]["resident_id"] = ZHANG[:-1] + ("0" if ZHANG[-1] != "0" else "1")
    rows[39]["occurred_at"] = ""
    return rows


def test_fifty_rows_with_three_bad_accepts_47_and_keeps_the_3_with_row_column_and_reason(
        hub: Hub) -> None:
    rows = fifty_rows_three_bad()
    answer = hub.records.receive_file(csv_bytes(rows), "text/csv")

    assert answer.count("accepted") == 47
    reported = {(r.row, p.location, p.message) for r in answer.rejected for p in r.problems}
    bad_id = rows[24]["resident_id"]
    assert reported == {
        (11, "row 11, column 收缩压", "'abc' is not a number"),
        (26, "row 26, column 身份证号",
         f"{bad_id!r} is not a valid 身份证号 (GB 11643 check digit or birth date)"),
        (41, "row 41, column 发生时间", "occurred_at (发生时间) is required"),
    }
    hub.projector.catch_up()
    kept = hub.read_model.inbound("rejected")
    assert sorted(k["control_id"] for k in kept) == ["TZ-009", "TZ-024", "TZ-039"]
    raw = hub.app.repository.get(answer.rejected[0].message_id).raw.decode()
    assert raw.splitlines()[1].startswith("DGYL-01,TZ-009,vital_signs")


def test_corrected_rows_are_accepted_and_resending_the_file_adds_nothing(hub: Hub) -> None:
    rows = fifty_rows_three_bad()
    hub.records.receive_file(csv_bytes(rows), "text/csv")
    again = hub.records.receive_file(csv_bytes(rows), "text/csv")
    assert (again.count("accepted"), again.count("duplicate"), len(again.rejected)) == (0, 47, 3)

    fixed = [vital_signs("TZ-009", "2025-08-10 08:00", 129, 80)]
    corrected = hub.records.receive_file(csv_bytes(fixed), "text/csv")
    assert corrected.count("accepted") == 1
    assert hub.records.receive_file(csv_bytes(fixed), "text/csv").count("duplicate") == 1


@pytest.mark.parametrize(("data", "content_type", "reason"), [
    (b"", "text/csv", "the file is empty"),
    (csv_bytes([vital_signs("T1", "2025-08-01 08:00", 120, 80)] * 2)[:-40], "text/csv",
     "looks truncated"),
    (csv_bytes([vital_signs("T1", "2025-08-01 08:00", 120, 80)], encoding="gb18030"),
     "text/csv; charset=utf-8", "not valid UTF-8 text"),
    (csv_bytes([vital_signs("T1", "2025-08-01 08:00", 120, 80)]), "text/csv; charset=gb18030",
     "not valid GB18030 text"),
    (b'[{"organisation": "DGYL-01", "record_id": ', "application/json", "truncated"),
], ids=["empty", "truncated-csv", "gb18030-sent-as-utf8", "utf8-sent-as-gb18030",
        "truncated-json"])
def test_an_unreadable_file_gets_one_clear_error_and_is_kept_as_rejected_without_facts(
        sqlite_hub: Hub, data: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(UnreadableMessage, match=reason) as error:
        sqlite_hub.records.receive_file(data, content_type, sender="DGYL-01")
    assert len(error.value.problems) == 1
    kept = sqlite_hub.app.repository.get(error.value.message_id)
    assert kept.outcome == "rejected" and kept.sender == "DGYL-01"
    assert kept.problems == error.value.problems
    assert sqlite_hub.app.raw_message(kept.id) == data  # the file as sent, byte for byte
    topics = [n.topic.rsplit(".", 1)[-1] for n in
              sqlite_hub.app.recorder.select_notifications(start=1, limit=100)]
    assert topics == ["Received", "Rejected"]  # kept, and nothing else: no elder, no fact
    with pytest.raises(UnreadableMessage):  # sent again: recognised, not kept twice
        sqlite_hub.records.receive_file(data, content_type, sender="DGYL-01")
    assert len(list(sqlite_hub.app.recorder.select_notifications(start=1, limit=100))) == 3


def test_gb18030_file_with_english_headers_round_trips_chinese(sqlite_hub: Hub) -> None:
    row = {**vital_signs("T1", "2025-08-01 08:00", 120, 80), "record_type": "incident",
           "incident_type": "噎食", "description": "午餐时噎食，海姆立克法处置后缓解"}
    answer = sqlite_hub.records.receive_file(csv_bytes([row], chinese=False, encoding="gb18030"),
                                             filename="incidents.csv")
    assert answer.count("accepted") == 1
    sqlite_hub.projector.catch_up()
    elder = sqlite_hub.read_model.find_elders(ZHANG)[0]
    [entry] = sqlite_hub.read_model.timeline(elder["id"], kinds=["incident"])
    assert entry["summary"] == "风险事件: 噎食  午餐时噎食，海姆立克法处置后缓解"
    assert entry["source_kind"] == "care_home"


def test_a_late_reading_never_replaces_a_newer_one_in_the_profile(sqlite_hub: Hub) -> None:
    sqlite_hub.records.receive_rows(
        read_rows(csv_bytes([vital_signs("T2", "2025-08-02 08:00", 150, 95)]), "text/csv"),
        "file")
    sqlite_hub.records.receive_rows(
        read_rows(csv_bytes([vital_signs("T1", "2025-08-01 08:00", 120, 80)]), "text/csv"),
        "file")
    sqlite_hub.projector.catch_up()
    elder = sqlite_hub.read_model.find_elders(ZHANG)[0]
    observations = sqlite_hub.read_model.profile(elder["id"])["observations"]
    bp = next(o for o in observations if o["code"]["code"] == "85354-9")
    assert [c["value_quantity"] for c in bp["components"]] == ["150", "95"]


def test_two_teams_signing_at_the_same_moment_one_wins(hub: Hub) -> None:
    signings = [contract("S-A", "sign", contract_id="HT-A", team="一队"),
                contract("S-B", "sign", contract_id="HT-B", team="二队")]
    answers: list = []
    barrier = threading.Barrier(2)

    def sign(record: dict) -> None:
        rows = read_rows(csv_bytes([record]), "text/csv")
        barrier.wait()
        answers.append(hub.records.receive_rows(rows, "api"))

    threads = [threading.Thread(target=sign, args=(r,)) for r in signings]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes = sorted(a.rows[0].outcome for a in answers)
    assert outcomes == ["accepted", "rejected"]
    refused = next(a.rows[0] for a in answers if a.rows[0].outcome == "rejected")
    assert refused.conflict


def test_two_falls_in_the_30_days_before_an_assessment_raise_its_level(sqlite_hub: Hub) -> None:
    """The home need not count them: the hub holds the falls, from any source."""
    from mappings import assessment

    items = ";".join(f"{code}={2 if maximum == 4 else 1}"
                     for code, (_, maximum) in assessment.ITEMS.items())  # 16+7+15+7 = 45
    falls = [{**vital_signs(f"SJ-{n}", when, 0, 0), "record_type": "incident",
              "incident_type": "跌倒", "systolic": "", "diastolic": "", "heart_rate": ""}
             for n, when in enumerate(("2025-07-01 21:00", "2025-07-20 06:30"))]
    assessed = [{**vital_signs(f"PG-{n}", when, 0, 0), "record_type": "assessment",
                 "items": items, "systolic": "", "diastolic": "", "heart_rate": ""}
                for n, when in enumerate(("2025-07-25 15:00", "2025-08-25 15:00"))]
    answer = sqlite_hub.records.receive_file(csv_bytes(falls + assessed), "text/csv")
    assert answer.count("accepted") == 4, answer.as_dict()["rejected"]
    sqlite_hub.projector.catch_up()
    elder = sqlite_hub.read_model.find_elders(ZHANG)[0]
    levels = [(e["data"]["total"], e["data"]["level_display"], e["data"]["adjustments"])
              for e in sqlite_hub.read_model.timeline(elder["id"], kinds=["assessment"])]
    assert levels == [
        (45, "能力完全丧失(完全失能)", ["近30天照护风险事件 2 次: 提高一个等级"]),
        (45, "能力重度受损(重度失能)", []),
    ]


def test_ingest_reports_an_unreadable_file_and_goes_on_with_the_others(tmp_path: Path) -> None:
    empty = tmp_path / "a-empty.csv"
    empty.write_bytes(b"")
    good = tmp_path / "b-vitals.csv"
    good.write_bytes(csv_bytes([vital_signs("T1", "2025-08-01 08:00", 120, 80)]))
    env = {"YYHUB_DATABASE_URL": f"sqlite:///{tmp_path}/hub.db", "COLUMNS": "200"}
    result = CliRunner().invoke(cli, ["ingest", str(empty), str(good)], env=env)
    assert result.exit_code == 0, result.output
    assert "a-empty.csv: the file is empty" in result.output
    assert "Records: accepted 1, duplicate 0, rejected 0, unreadable file 1" in result.output
