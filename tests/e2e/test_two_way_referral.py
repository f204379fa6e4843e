"""Over HTTP: a care home sends 张秀英 up to hospital and gets her back with a discharge summary."""
# ruff: noqa: F811  (the fixtures imported from tests.referral_support are used as arguments)

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any

from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle

from adapters.settings import Settings
from tests.referral_support import (  # noqa: F401  (fixtures)
    CARE_HOME,
    HOSPITAL,
    OTHER_HOSPITAL,
    HandClock,
    admit_elder,
    as_org,
    client,
    clock,
    last_position,
    referral_hub,
    request_referral,
)


def step(client: TestClient, referral_id: str, action: str, org: str,
         body: dict[str, Any] | None = None) -> Any:
    return client.post(f"/referrals/{referral_id}/{action}", headers=as_org(org),
                       json=body or {})


def test_care_home_sees_the_return_with_discharge_summary_and_every_step_on_the_timeline(
        client: TestClient) -> None:
    national, _ = admit_elder(client)
    referral_id = request_referral(client, national)

    accepted = step(client, referral_id, "accept", HOSPITAL,
                    {"receiving_doctor": "陈主任", "bed": "心内科3病区12床"})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert step(client, referral_id, "arrive", HOSPITAL,
                {"visit_number": "ZY0001"}).json()["status"] == "arrived"
    assert step(client, referral_id, "complete", HOSPITAL,
                {"treatment_result": "好转"}).json()["status"] == "completed"
    returned = step(client, referral_id, "return", HOSPITAL, {
        "discharge_summary": "高血压3级, 住院7天, 血压控制在130/80 mmHg, 出院。",
        "treatment_result": "好转", "rehabilitation_advice": "低盐饮食, 每日监测血压",
        "medications": ["氨氯地平 5mg qd", "阿司匹林 100mg qd"], "attending_doctor": "陈主任"})
    assert returned.status_code == 201, returned.text
    return_id = returned.json()["referral_id"]

    incoming = client.get("/referrals", params={
        "org": CARE_HOME, "direction": "in", "wait_for": returned.headers["X-Hub-Position"]})
    assert [(r["referral_id"], r["direction"], r["status"], r["elder_name"])
            for r in incoming.json()] == [(return_id, "down", "sent", "张秀英")]
    the_return = client.get(f"/referrals/{return_id}").json()
    assert the_return["parent_id"] == referral_id
    assert the_return["discharge_summary"].startswith("高血压3级, 住院7天")
    assert the_return["rehabilitation_advice"] == "低盐饮食, 每日监测血压"
    assert the_return["medications"] == ["氨氯地平 5mg qd", "阿司匹林 100mg qd"]
    received = step(client, return_id, "receive", CARE_HOME, {"note": "已回院, 更新护理计划"})
    assert received.json()["status"] == "received"

    elder_id = the_return["elder_id"]
    timeline = client.get(f"/elders/{elder_id}/timeline", params={
        "kind": "referral", "wait_for": received.headers["X-Hub-Position"]}).json()["entries"]
    assert [(e["data"]["step"], e["source"]["organisation"]) for e in timeline] == [
        ("requested", CARE_HOME), ("accepted", HOSPITAL), ("arrived", HOSPITAL),
        ("completed", HOSPITAL), ("sent", HOSPITAL), ("received", CARE_HOME)]
    assert timeline[0]["summary"] == f"转诊↑申请: {CARE_HOME} → {HOSPITAL} 血压控制不满意, 头晕加重"
    profile = client.get(f"/elders/{elder_id}/profile").json()
    assert profile["documents"][0]["title"] == "出院小结"
    assert {r["referral_id"]: r["status"] for r in profile["referrals"]} == {
        referral_id: "completed", return_id: "received"}
    sent_up = client.get(f"/referrals/{referral_id}").json()
    assert sent_up["return_id"] == return_id
    assert [h["step"] for h in sent_up["history"]] == [
        "requested", "accepted", "arrived", "completed", "returned"]


def test_handover_packet_carries_problems_allergies_and_contacts_as_json_and_fhir(
        client: TestClient) -> None:
    national, _ = admit_elder(client)
    referral_id = request_referral(client, national)

    packet = client.get(f"/referrals/{referral_id}/packet",
                        params={"wait_for": last_position(client)}).json()
    assert [p["condition"]["display"] for p in packet["problems"]] == ["高血压"]
    assert [a["allergen"]["display"] for a in packet["allergies"]] == ["青霉素"]
    assert [c["name"] for c in packet["contacts"]] == ["李明"]
    assert packet["demographics"]["name"] == "张秀英"

    for answer in (client.get(f"/referrals/{referral_id}/packet", params={"format": "fhir"}),
                   client.get(f"/referrals/{referral_id}/packet",
                              headers={"Accept": "application/fhir+json"})):
        assert answer.headers["content-type"].startswith("application/fhir+json")
        bundle = Bundle.model_validate_json(answer.content)
        kinds = [e.resource.get_resource_type() for e in bundle.entry]
        assert kinds == ["Patient", "Condition", "AllergyIntolerance", "RelatedPerson",
                         "ServiceRequest", "Task"]
        task = answer.json()["entry"][-1]["resource"]
        assert task["status"] == "requested" and task["owner"]["display"] == HOSPITAL


def test_every_step_out_of_turn_is_refused_with_409_and_the_current_state(
        client: TestClient) -> None:
    national, _ = admit_elder(client)
    referral_id = request_referral(client, national)
    for action in ("arrive", "complete", "return", "receive", "follow-up"):
        refused = step(client, referral_id, action, HOSPITAL,
                       {"discharge_summary": "x"} if action == "return" else None)
        assert refused.status_code == 409, (action, refused.text)
        assert refused.json()["detail"]["status"] == "requested"

    assert step(client, referral_id, "refuse", HOSPITAL, {"reason": "床位已满"}).status_code == 200
    for action in ("accept", "refuse", "cancel", "arrive", "complete"):
        org = CARE_HOME if action == "cancel" else HOSPITAL
        refused = step(client, referral_id, action, org)
        assert refused.status_code == 409
        assert refused.json()["detail"]["status"] == "refused"

    resent = client.post("/referrals", headers=as_org(CARE_HOME), json={
        "identifier": national, "number": "ZZ-2026-0001", "reason": "重发"})
    assert resent.status_code == 409
    assert resent.json()["detail"]["referral_id"] == referral_id
    assert step(client, referral_id, "accept", OTHER_HOSPITAL).status_code == 409


def test_only_the_destination_may_accept_and_only_the_sender_may_cancel(
        client: TestClient) -> None:
    national, _ = admit_elder(client)
    referral_id = request_referral(client, national)
    assert step(client, referral_id, "accept", OTHER_HOSPITAL).status_code == 403
    assert step(client, referral_id, "cancel", HOSPITAL).status_code == 403
    assert step(client, referral_id, "cancel", CARE_HOME).json()["status"] == "cancelled"


def test_two_hospitals_accepting_an_open_referral_at_once_one_wins_one_gets_409(
        client: TestClient) -> None:
    national, _ = admit_elder(client)
    referral_id = request_referral(client, national, to="")
    answers: dict[str, int] = {}
    start = threading.Barrier(2)

    def accept(org: str) -> None:
        start.wait()
        answers[org] = step(client, referral_id, "accept", org).status_code

    threads = [threading.Thread(target=accept, args=(org,)) for org in (HOSPITAL, OTHER_HOSPITAL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers.values()) == [200, 409]
    winner = next(org for org, code in answers.items() if code == 200)
    view = client.get(f"/referrals/{referral_id}", params={"wait_for": last_position(client)})
    assert view.json()["to_organisation"] == winner
    assert [h["step"] for h in view.json()["history"]] == ["requested", "accepted"]


def test_a_late_accept_shows_overdue_in_both_worklists_then_the_referral_expires(
        client: TestClient, clock: HandClock) -> None:
    national, _ = admit_elder(client)
    routine = request_referral(client, national, number="ZZ-R")
    urgent = request_referral(client, national, number="ZZ-U", urgency="urgent")
    hub = client.app.state.hub

    clock.advance(hours=3)  # past the urgent 2 h, within the routine 24 h
    done = hub.referrals.run_deadlines(hub.projector.catch_up)
    assert [str(r) for r in done.overdue] == [urgent]
    position = last_position(client)
    for org, direction in ((HOSPITAL, "in"), (CARE_HOME, "out")):
        rows = client.get("/referrals", headers=as_org(org),
                          params={"org": org, "direction": direction,
                                  "wait_for": position}).json()
        assert [(r["referral_id"], r["overdue"]) for r in rows] == [(urgent, True),
                                                                    (routine, False)]
    assert hub.referrals.run_deadlines(hub.projector.catch_up).overdue == ()

    clock.advance(hours=10)  # the urgent one is past its 12 h: nobody took it
    done = hub.referrals.run_deadlines(hub.projector.catch_up)
    assert [str(r) for r in done.expired] == [urgent]
    assert step(client, urgent, "accept", HOSPITAL).json()["detail"]["status"] == "expired"


def test_sender_is_reminded_to_follow_up_within_14_days_of_completion(
        client: TestClient, clock: HandClock) -> None:
    national, _ = admit_elder(client)
    referral_id = request_referral(client, national)
    for action in ("accept", "arrive", "complete"):
        step(client, referral_id, action, HOSPITAL)
    hub = client.app.state.hub
    clock.advance(days=15)
    assert [str(r) for r in hub.referrals.run_deadlines(hub.projector.catch_up).overdue] == [
        referral_id]
    row = client.get("/referrals", params={
        "org": CARE_HOME, "direction": "out", "wait_for": last_position(client)}).json()[0]
    assert (row["awaited"], row["overdue"]) == ("follow-up", True)
    followed = step(client, referral_id, "follow-up", CARE_HOME, {"note": "血压稳定"})
    row = client.get("/referrals", params={"org": CARE_HOME, "direction": "out",
                                           "wait_for": followed.headers["X-Hub-Position"]}
                     ).json()[0]
    assert (row["awaited"], row["overdue"]) == ("", False)


def test_partnered_hospitals_are_suggested_first(client: TestClient) -> None:
    national, _ = admit_elder(client)
    request_referral(client, national, number="A1", to=OTHER_HOSPITAL)
    signed = client.post("/partnerships", headers=as_org(CARE_HOME), json={
        "care_organisation": CARE_HOME, "medical_organisation": HOSPITAL,
        "services": ["绿色通道", "巡诊"], "valid_from": "2026-01-01"})
    assert signed.status_code == 201
    again = client.post("/partnerships", json={"care_organisation": CARE_HOME,
                                               "medical_organisation": HOSPITAL})
    assert again.status_code == 409
    suggested = client.get("/referrals/destinations", params={
        "org": CARE_HOME, "wait_for": signed.headers["X-Hub-Position"]}).json()
    assert [(d["organisation"], d["partnered"]) for d in suggested] == [
        (HOSPITAL, True), (OTHER_HOSPITAL, False)]


def test_the_deadlines_command_expires_a_referral_nobody_took(
        client: TestClient, settings: Settings) -> None:
    national, _ = admit_elder(client)
    referral_id = request_referral(client, national)  # on the hand clock: months ago
    result = subprocess.run([sys.executable, "-m", "adapters.cli", "deadlines"],
                            env={**os.environ, "YYHUB_DATABASE_URL": settings.database_url,
                                 "COLUMNS": "200"},
                            capture_output=True, text=True, timeout=120, check=True)
    assert "0 newly overdue, 1 expired" in result.stdout
    view = client.get(f"/referrals/{referral_id}", params={"wait_for": last_position(client)})
    assert view.json()["status"] == "expired"
    assert view.json()["history"][-1]["step"] == "expired"


def test_a_family_doctor_system_sends_a_fhir_service_request_and_reads_the_task_back(
        client: TestClient) -> None:
    national, _ = admit_elder(client)
    service_request = {
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "identifier": [{"system": "urn:yyhub:referral-number:YG-YLY", "value": "FHIR-0001"}],
        "priority": "urgent", "code": {"text": "心血管内科"},
        "subject": {"identifier": {"system": "urn:oid:2.16.156.10011.1.3", "value": national}},
        "performer": [{"display": HOSPITAL}], "reasonCode": [{"text": "胸闷气促"}],
    }
    created = client.post("/referrals/fhir", headers=as_org(CARE_HOME), json=service_request)
    assert created.status_code == 201, created.text
    referral_id = created.json()["referral_id"]
    step(client, referral_id, "accept", HOSPITAL)
    bundle = client.get(f"/referrals/{referral_id}/packet", params={
        "format": "fhir", "wait_for": last_position(client)}).json()
    by_type = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}
    assert by_type["ServiceRequest"]["priority"] == "urgent"
    assert by_type["ServiceRequest"]["reasonCode"] == [{"text": "胸闷气促"}]
    assert by_type["Task"]["status"] == "accepted"

    no_reason = {**service_request, "reasonCode": [], "identifier": [{"value": "FHIR-0002"}]}
    refused = client.post("/referrals/fhir", headers=as_org(CARE_HOME), json=no_reason)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["location"] == "ServiceRequest.reasonCode"
    for field, value in (("priority", "whenever"), ("authoredOn", "昨天")):
        bad = client.post("/referrals/fhir", headers=as_org(CARE_HOME),
                          json={**service_request, field: value})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["location"] == f"ServiceRequest.{field}"


def test_the_hospital_system_moves_the_referral_with_fhir_task_statuses(
        client: TestClient) -> None:
    national, _ = admit_elder(client)
    referral_id = request_referral(client, national)

    def task(status: str, **more: Any) -> Any:
        return client.post(f"/referrals/{referral_id}/task", headers=as_org(HOSPITAL),
                           json={"resourceType": "Task", "status": status, "intent": "order",
                                 **more})

    assert task("requested").status_code == 422
    assert task("accepted").json()["status"] == "accepted"
    assert task("in-progress").json()["status"] == "arrived"
    assert task("completed", note=[{"text": "好转出院"}]).json()["status"] == "completed"
    assert task("rejected", statusReason={"text": "太晚了"}).json()["detail"]["status"] == \
        "completed"
    view = client.get(f"/referrals/{referral_id}", params={"wait_for": last_position(client)})
    assert view.json()["treatment_result"] == "好转出院"


def test_an_unrelated_hospital_reads_neither_the_referral_nor_the_care_homes_worklist(
        client: TestClient) -> None:
    national, _ = admit_elder(client)
    referral_id = request_referral(client, national)
    position = last_position(client)
    assert client.get(f"/referrals/{referral_id}", headers=as_org(OTHER_HOSPITAL),
                      params={"wait_for": position}).status_code == 403
    assert client.get(f"/referrals/{referral_id}/packet",
                      headers=as_org(OTHER_HOSPITAL)).status_code == 403
    assert client.get("/referrals", headers=as_org(OTHER_HOSPITAL),
                      params={"org": CARE_HOME, "direction": "out"}).status_code == 403
    assert client.get(f"/referrals/{referral_id}", headers=as_org(HOSPITAL)).status_code == 200
