"""Nobody reads an elder without a care relationship, and every read leaves an audit record."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from adapters.api.app import create_app
from adapters.bootstrap import Hub
from event_store import readmodel
from tests.api import headers, register
from tests.messages import adt, resident_id

LOOKUP = "/fhir/Patient?identifier=urn:oid:2.16.156.10011.1.3|110105194912310020"
OPEN_ROUTES = {"/health", "/fhir/metadata", "/docs", "/docs/oauth2-redirect", "/redoc",
               "/openapi.json"}


@dataclass
class World:
    client: TestClient
    hub: Hub
    keys: dict[str, str]
    elders: dict[str, str]  # hospital code → its elder id
    nationals: dict[str, str]


@pytest.fixture
def world(hub: Hub) -> Iterator[World]:
    keys = {
        "H1": register(hub, "H1", "hospital", ("H1",)),
        "H2": register(hub, "H2", "hospital", ("H2",)),
        "CH": register(hub, "CH", "care_home"),
        "FD": register(hub, "FD", "family_doctor"),
        "REG": register(hub, "REG", "regulator"),
        "ADM": register(hub, "ADM", "admin"),
    }
    nationals = {"H1": resident_id(sequence="031"), "H2": resident_id(sequence="033")}
    with TestClient(create_app(hub=hub, background_worker=False)) as client:
        elders = {}
        for code, national in nationals.items():
            r = client.post("/hl7v2", headers=headers(keys[code]),
                            content=adt(facility=code, national_id=national).encode())
            assert "MSA|AA" in r.text
            found = client.get("/elders", headers=headers(keys[code]),
                               params={"identifier": national,
                                       "wait_for": r.headers["X-Hub-Position"]}).json()
            elders[code] = found[0]["id"]
        yield World(client, hub, keys, elders, nationals)


def operations(client: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) the API publishes in its OpenAPI document."""
    paths = client.app.openapi()["paths"]
    return sorted((method.upper(), path) for path, item in paths.items() for method in item)


def elder_routes(client: TestClient) -> list[str]:
    """Every GET route that reads one elder (new ones are covered as they are added)."""
    return [path for method, path in operations(client)
            if method == "GET" and "{elder_id}" in path]


def call(world: World, path: str, elder_id: str, who: str, purpose: str = "") -> int:
    params = {"as_of": "2100-01-01T00:00:00+08:00"} if "/audit/" in path else {}
    response = world.client.get(path.replace("{elder_id}", elder_id),
                                headers={**headers(world.keys[who], purpose),
                                         "X-Request-Id": f"req-{uuid.uuid4().hex}"},
                                params=params)
    return response.status_code


def audit_rows(world: World) -> list[dict]:
    world.hub.projector.catch_up()
    return world.hub.read_model.audit(limit=100000)


def test_no_route_reads_a_foreign_elder_and_every_read_is_audited(world: World) -> None:
    routes = elder_routes(world.client)
    assert {"/elders/{elder_id}/profile", "/elders/{elder_id}/timeline",
            "/audit/elders/{elder_id}/history"} <= set(routes)
    for path in routes:
        for who in ("H1", "H2", "CH", "FD", "ADM", "REG"):
            for owner, elder_id in world.elders.items():
                before = len(audit_rows(world))
                purpose = "监督检查 2026-11" if who == "REG" else ""
                status = call(world, path, elder_id, who, purpose)
                own = who == owner or who == "REG"
                regulator_route = path.startswith("/audit/")
                if regulator_route and who != "REG":
                    assert status == 403, (path, who)
                    continue
                if own:
                    assert status == 200, (path, who, owner)
                    reads = [r for r in audit_rows(world)[: len(audit_rows(world)) - before]
                             if r["outcome"] == "read"]
                    assert reads and reads[0]["elder_id"] == elder_id, (path, who)
                    assert reads[0]["organisation"] == who
                else:
                    assert status == 404, (path, who, owner)


def test_search_never_reveals_an_elder_the_caller_may_not_read(world: World) -> None:
    for who, national in (("H2", world.nationals["H1"]), ("CH", world.nationals["H1"]),
                          ("ADM", world.nationals["H2"])):
        found = world.client.get("/elders", headers=headers(world.keys[who]),
                                 params={"identifier": national})
        assert found.json() == [], who
    own = world.client.get("/elders", headers=headers(world.keys["H1"]),
                           params={"identifier": world.nationals["H1"]}).json()
    assert [e["id"] for e in own] == [world.elders["H1"]]


def test_a_regulator_must_state_a_purpose(world: World) -> None:
    assert call(world, "/elders/{elder_id}/profile", world.elders["H1"], "REG") == 403
    assert call(world, "/elders/{elder_id}/profile", world.elders["H1"], "REG",
                "核查投诉 第12号") == 200
    audit = world.client.get("/audit", headers=headers(world.keys["REG"], "年度审计"),
                             params={"elder_id": world.elders["H1"], "organisation": "REG",
                                     "wait_for": world.hub.app.recorder.max_notification_id()}
                             ).json()
    assert [(r["organisation"], r["purpose"], r["outcome"]) for r in audit] == [
        ("REG", "核查投诉 第12号", "read")]


def test_every_route_but_health_and_metadata_needs_a_key(world: World) -> None:
    checked = 0
    for method, template in operations(world.client):
        if template in OPEN_ROUTES:
            continue
        path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), template)
        response = world.client.request(method, path)
        assert response.status_code == 401, (method, template)
        wrong = world.client.request(method, path, headers={"Authorization": "Bearer yyk_forged"})
        assert wrong.status_code == 401, (method, template)
        checked += 1
    assert checked >= 8


def test_a_key_issued_anew_stops_the_old_one_within_seconds(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys found are remembered for a few seconds (event_store/readmodel.py); when a
    hospital is issued a new key, its old key stops working once that time is up, and the
    new key works at once."""
    monkeypatch.setattr(readmodel, "KNOWN_KEY_SECONDS", 0.5)
    old = world.keys["H1"]
    assert world.client.get(LOOKUP, headers=headers(old)).status_code == 200
    new = register(world.hub, "H1", "hospital", ("H1",))
    assert world.client.get(LOOKUP, headers=headers(new)).status_code == 200
    time.sleep(0.6)
    refused = world.client.get(LOOKUP, headers=headers(old))
    assert refused.status_code == 401
    assert world.client.get(LOOKUP, headers=headers(new)).status_code == 200


def test_a_hospital_cannot_send_as_another_hospital(world: World) -> None:
    spoof = adt(facility="H2", control_id="SPOOF", national_id=world.nationals["H2"])
    answer = world.client.post("/hl7v2", headers=headers(world.keys["H1"]),
                               content=spoof.encode())
    assert "MSA|AR" in answer.text
    genuine = world.client.post("/hl7v2", headers=headers(world.keys["H2"]),
                                content=spoof.encode())
    assert "MSA|AA" in genuine.text, "the refused spoof must not block H2's own message"
    refused = world.client.post("/hl7v2", headers=headers(world.keys["REG"]),
                                content=spoof.encode())
    assert refused.status_code == 403
