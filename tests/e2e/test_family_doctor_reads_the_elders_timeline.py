"""Over HTTP: contracts, care-home logs and hospital messages meet on one elder's timeline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from adapters.api.app import create_app
from adapters.bootstrap import Hub, bootstrap
from adapters.settings import Settings
from tests.api import headers, register
from tests.care_records import ZHANG, contract, csv_bytes, vital_signs
from tests.messages import adt
from tests.referral_support import HandClock

DG1 = "DG1|1||I10^原发性高血压^I10|原发性高血压||F"


FAMILY_DOCTORS, CARE_HOME, HOSPITAL, REGULATOR = "DGGC-CHC", "DGYL-01", "DGSY", "WJW"
KEYS: dict[str, str] = {}


def as_org(code: str) -> dict[str, str]:
    return headers(KEYS[code])


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
def client(settings: Settings, clock: HandClock) -> Iterator[TestClient]:
    """Calls go as the family-doctor team unless a test names another organisation; "today"
    (which decides whose contract is in force) is the test's clock."""
    hub: Hub = bootstrap(settings, clock=clock)
    for code, role in ((FAMILY_DOCTORS, "family_doctor"), (CARE_HOME, "care_home"),
                       (HOSPITAL, "hospital"), (REGULATOR, "regulator")):
        KEYS[code] = register(hub, code, role, (code,))
    with TestClient(create_app(hub=hub, background_worker=False),
                    headers=as_org(FAMILY_DOCTORS)) as c:
        yield c
    hub.close()


def elder_id(client: TestClient, position: str | int, **as_who: str) -> str:
    return client.get("/elders", params={"identifier": ZHANG, "wait_for": position},
                      **as_who).json()[0]["id"]  # type: ignore[arg-type]



def test_a_second_team_is_refused_while_a_contract_is_in_force_and_renewal_and_termination_show(
        client: TestClient, clock: HandClock) -> None:
    clock.at = datetime(2026, 6, 15, 9, tzinfo=UTC)  # reading after the new team signed
    signed = client.post("/contracts", json=contract("S1", "sign"))
    assert signed.status_code == 200, signed.text
    assert signed.json()["accepted"] == 1

    other = client.post("/contracts", json=contract("S2", "sign", contract_id="HT-2",
                                                    team="东城家庭医生三队",
                                                    when="2025-06-01 09:00",
                                                    start="2025-06-01", end="2026-05-31"))
    assert other.status_code == 409
    [problem] = other.json()["rejected"][0]["problems"]
    assert (problem["code"], problem["location"]) == ("contract-conflict", "record 1, field action")
    assert problem["reason"] == (
        "this elder already has a contract in force with team 莞城家庭医生一队 until 2026-02-28; "
        "terminate it or let it expire before signing with 东城家庭医生三队")

    too_early = client.post("/contracts", json=contract("R0", "renew", when="2025-10-01 09:00",
                                                        end="2027-02-28"))
    assert too_early.status_code == 422
    assert "can be renewed from 2025-11-28 to 2027-02-28, not on 2025-10-01" in \
        too_early.json()["rejected"][0]["problems"][0]["reason"]

    renewed = client.post("/contracts", json=contract("R1", "renew", when="2026-01-15 09:30",
                                                      end="2027-02-28"))
    assert renewed.status_code == 200, renewed.text
    ended = client.post("/contracts", json=contract("T1", "terminate", when="2026-06-01 10:00",
                                                    reason="1"))
    assert ended.status_code == 200, ended.text

    # The team's access ended with its contract; a regulator checks what the timeline shows.
    regulator = headers(KEYS[REGULATOR], "核查家庭医生签约服务")
    eid = elder_id(client, ended.headers["X-Hub-Position"], headers=regulator)
    assert client.get(f"/elders/{eid}/profile").status_code == 404
    timeline = client.get(f"/elders/{eid}/timeline", headers=regulator,
                          params={"kind": "contract"}).json()
    assert [e["summary"] for e in timeline["entries"]] == [
        "家庭医生签约: 莞城家庭医生一队 2025-03-01至2026-02-28",
        "家庭医生续约: 莞城家庭医生一队 2026-03-01至2027-02-28",
        "家庭医生解约: 莞城家庭医生一队 2026-03-01至2027-02-28 原因: 迁出本辖区",
    ]
    assert {e["source_kind"] for e in timeline["entries"]} == {"family_doctor"}

    now_free = client.post("/contracts", json=contract("S3", "sign", contract_id="HT-3",
                                                       team="东城家庭医生三队",
                                                       when="2026-06-02 09:00",
                                                       start="2026-06-02", end="2027-06-01"))
    assert now_free.status_code == 200, now_free.text
    profile = client.get(f"/elders/{elder_id(client, now_free.headers['X-Hub-Position'])}"
                         "/profile").json()
    assert (profile["current_contract"]["team"], profile["current_contract"]["status"]) == \
        ("东城家庭医生三队", "signed")


def test_family_doctor_sees_hospital_family_doctor_and_care_home_facts_interleaved(
        client: TestClient, clock: HandClock) -> None:
    clock.at = datetime(2025, 10, 15, 9, tzinfo=UTC)  # the contract is in force
    client.post("/contracts", json=contract("S1", "sign"))
    client.post("/hl7v2", headers=as_org(HOSPITAL),
                content=adt(national_id=ZHANG, when="20250801080000+0800",
                            extra=(DG1,)).encode())
    follow_up = {"organisation": "DGGC-CHC", "record_id": "SF-1", "record_type": "follow_up",
                 "resident_id": ZHANG, "occurred_at": "2025-09-10T09:00:00+08:00",
                 "programme": "hypertension", "systolic": 148, "diastolic": 92,
                 "adherence": "2", "classification": "2"}
    client.post("/care-logs", json=follow_up)
    care = csv_bytes([vital_signs("TZ-1", "2025-08-20 08:00", 138, 86),
                      {**vital_signs("IN-1", "2025-09-01 21:40", 130, 80),
                       "record_type": "incident", "incident_type": "fall", "systolic": "",
                       "diastolic": "", "heart_rate": "", "description": "夜间跌倒"}],
                     encoding="gb18030")
    uploaded = client.post("/files", headers=as_org(CARE_HOME),
                           files={"file": ("care.csv", care, "text/csv; charset=gb18030")})
    assert uploaded.json()["accepted"] == 2, uploaded.text

    eid = elder_id(client, uploaded.headers["X-Hub-Position"])
    entries = client.get(f"/elders/{eid}/timeline",
                         params={"kind": ["contract", "diagnosis", "observation", "incident",
                                          "follow_up"]}).json()["entries"]
    seen = [(e["occurred_at"][:10], e["source_kind"], e["source"]["organisation"], e["summary"])
            for e in entries]
    assert seen == [
        ("2025-03-01", "family_doctor", "DGGC-CHC",
         "家庭医生签约: 莞城家庭医生一队 2025-03-01至2026-02-28"),
        ("2025-08-01", "hospital", "DGSY", "诊断: 原发性高血压 (I10)"),
        ("2025-08-20", "care_home", "DGYL-01", "观察: 血压 138/86 mm[Hg]"),
        ("2025-08-20", "care_home", "DGYL-01", "观察: 心率 76 /min"),
        ("2025-09-01", "care_home", "DGYL-01", "风险事件: 跌倒  夜间跌倒"),
        ("2025-09-10", "family_doctor", "DGGC-CHC", "高血压随访: 控制不满意"),
        ("2025-09-10", "family_doctor", "DGGC-CHC", "观察: 血压 148/92 mm[Hg]"),
    ]
    assert all(e["recorded_at"] and e["source"]["channel"] for e in entries)

    care_only = client.get(f"/elders/{eid}/timeline",
                           params={"source_kind": "care_home"}).json()["entries"]
    assert care_only and {e["source_kind"] for e in care_only} == {"care_home"}
    hospital = client.get(f"/elders/{eid}/timeline",
                          params={"source_kind": "hospital"}).json()["entries"]
    assert hospital and {e["source"]["organisation"] for e in hospital} == {"DGSY"}

    profile = client.get(f"/elders/{eid}/profile").json()
    bp = next(o for o in profile["observations"] if o["code"]["code"] == "85354-9")
    assert bp["source"]["organisation"] == "DGGC-CHC"  # the latest reading, by occurred_at
    assert profile["diagnoses"][0]["condition"]["code"] == "I10"
    assert profile["current_contract"]["team"] == "莞城家庭医生一队"


def test_a_file_posted_as_the_body_answers_per_bad_row(client: TestClient) -> None:
    rows = [vital_signs("TZ-1", "2025-08-20 08:00", 138, 86),
            vital_signs("TZ-2", "2025-08-21 08:00", 400, 86)]
    answer = client.post("/files", content=csv_bytes(rows),
                         headers={**as_org(CARE_HOME), "content-type": "text/csv; charset=utf-8"})
    body = answer.json()
    assert (answer.status_code, body["accepted"]) == (200, 1)
    assert body["rejected"][0]["problems"][0]["location"] == "row 3, column 收缩压"


def test_an_empty_file_answers_one_error_and_is_kept_as_rejected(client: TestClient) -> None:
    answer = client.post("/files", content=b"",
                         headers={**as_org(CARE_HOME), "content-type": "text/csv"})
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert detail["error"] == "the file is empty"
    [kept] = client.get("/inbound", params={
        "outcome": "rejected", "wait_for": answer.headers["X-Hub-Position"]},
        headers=as_org(CARE_HOME)).json()  # the care home sees what it sent
    assert kept["message_id"] == detail["message_id"]
    assert kept["problems"][0]["message"] == "the file is empty"


def test_care_logs_accept_a_list_of_json_records(client: TestClient) -> None:
    records = [vital_signs(f"TZ-{i}", f"2025-08-2{i} 08:00", 130 + i, 85) for i in range(3)]
    answer = client.post("/care-logs", content=json.dumps(records, ensure_ascii=False),
                         headers={**as_org(CARE_HOME), "content-type": "application/json"})
    assert answer.json()["accepted"] == 3
