"""Over HTTP: a hospital pushes ADT, a family doctor reads the profile and timeline at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from adapters.api.app import create_app
from adapters.bootstrap import Hub
from tests.api import client_as, register
from tests.messages import adt, resident_id

DG1 = "DG1|1||I63.9^脑梗死^I10|脑梗死||A"


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    """The hospital DGSY, which pushes records and reads the elders it holds records for."""
    key = register(hub, "DGSY", "hospital", ("DGSY",))
    with TestClient(create_app(hub=hub, background_worker=False)) as c:
        yield client_as(c, key)


def test_family_doctor_reads_profile_and_timeline_right_after_the_ack(client: TestClient) -> None:
    national = resident_id()
    pushed = client.post("/hl7v2", content=adt(national_id=national, extra=(DG1,)).encode())
    assert pushed.status_code == 200
    assert "MSA|AA|MSG0001" in pushed.text
    position = pushed.headers["X-Hub-Position"]

    found = client.get("/elders", params={"identifier": f"urn:oid:2.16.156.10011.1.3|{national}",
                                          "wait_for": position}).json()
    assert [e["name"] for e in found] == ["张秀英"]
    elder_id = found[0]["id"]
    profile = client.get(f"/elders/{elder_id}/profile").json()
    assert profile["diagnoses"][0]["condition"]["code"] == "I63.9"
    assert profile["diagnoses"][0]["source"]["organisation"] == "DGSY"
    timeline = client.get(f"/elders/{elder_id}/timeline", params={"kind": "diagnosis"}).json()
    assert [e["summary"] for e in timeline["entries"]] == ["诊断: 脑梗死 (I63.9)"]


def test_bad_message_gets_ae_naming_segment_and_field(client: TestClient) -> None:
    bad = adt(birth="1946-03-15", national_id=resident_id()).encode()
    answer = client.post("/hl7v2", content=bad)
    assert "MSA|AE|" in answer.text
    assert "ERR||PID^1^7|102^Data type error^HL70357|E" in answer.text
    rejected = client.get("/inbound", params={"outcome": "rejected",
                                              "wait_for": answer.headers["X-Hub-Position"]})
    assert rejected.json()[0]["problems"][0]["location"] == "PID[1]-7"


def test_timeline_pages_with_a_cursor(client: TestClient) -> None:
    national = resident_id()
    for i in range(5):
        r = client.post("/hl7v2", content=adt("A08", control_id=f"P{i}", national_id=national,
                                               when=f"2026030{i + 1}080000+0800").encode())
    elder = client.get("/elders", params={"identifier": national,
                                          "wait_for": r.headers["X-Hub-Position"]}).json()[0]
    seen, cursor = [], None
    while True:
        page = client.get(f"/elders/{elder['id']}/timeline",
                          params={"kind": "demographics", "limit": 2,
                                  **({"cursor": cursor} if cursor else {})}).json()
        seen += [e["occurred_at"][:10] for e in page["entries"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"2026-03-0{i}" for i in range(1, 6)]


def test_profile_as_of_before_an_update(client: TestClient) -> None:
    national = resident_id()
    first = client.post("/hl7v2", content=adt(control_id="A", national_id=national,
                                              phone="13800000001").encode())
    elder = client.get("/elders", params={"identifier": national,
                                          "wait_for": first.headers["X-Hub-Position"]}).json()[0]
    before = client.get(f"/elders/{elder['id']}/profile").json()["last_recorded_at"]
    client.post("/hl7v2", content=adt("A08", control_id="B", national_id=national,
                                      phone="13800000002").encode())
    then = client.get(f"/elders/{elder['id']}/profile", params={"as_of": before}).json()
    assert then["demographics"]["phone"] == "13800000001"
    assert client.get(f"/elders/{elder['id']}/profile",
                      params={"as_of": "2000-01-01T00:00:00+08:00"}).status_code == 404


def test_operators_see_quarantine_and_projection_lag_in_metrics(hub: Hub,
                                                                client: TestClient) -> None:
    client.post("/hl7v2", content=adt(national_id=resident_id()).encode())
    bad = client.post("/hl7v2", content=adt(control_id="BAD", birth="19461399",
                                            national_id=resident_id()).encode())
    admin = register(hub, "OPS", "admin")
    hub.projector.wait_for(int(bad.headers["X-Hub-Position"]))
    scrape = client.get("/metrics", headers={"Authorization": f"Bearer {admin}"}).text
    assert 'yyhub_inbound_messages{channel="hl7v2-http",outcome="rejected"} 1.0' in scrape
    assert 'yyhub_inbound_messages{channel="hl7v2-http",outcome="accepted"} 1.0' in scrape
    assert 'yyhub_projection_lag_events{projection="elders"} 0.0' in scrape
    assert client.get("/metrics").status_code == 403  # a hospital key is not enough
