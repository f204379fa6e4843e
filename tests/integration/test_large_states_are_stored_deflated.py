"""On SQLite and PostgreSQL, a Bundle's facts are stored deflated and read back whole, and
events a hub stored before deflation still read."""

from __future__ import annotations

import json
from typing import Any

from adapters.bootstrap import Hub
from hub.elder import Elder
from tests.messages import resident_id

RESIDENT_ID = "urn:oid:2.16.156.10011.1.3"


def vitals_bundle(national: str, count: int) -> bytes:
    """A transaction Bundle: one elder and `count` heart rates a day apart."""
    entries: list[dict[str, Any]] = [{"fullUrl": "urn:uuid:p", "request": {
        "method": "POST", "url": "Patient"}, "resource": {
        "resourceType": "Patient", "identifier": [{"system": RESIDENT_ID, "value": national}],
        "name": [{"text": "李桂兰"}], "gender": "female", "birthDate": "1941-05-02"}}]
    for i in range(count):
        entries.append({"request": {"method": "POST", "url": "Observation"}, "resource": {
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4",
                                 "display": "心率"}]},
            "subject": {"reference": "urn:uuid:p"},
            "effectiveDateTime": f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}T08:00:00+08:00",
            "valueQuantity": {"value": 60 + i % 30, "unit": "/min",
                              "system": "http://unitsofmeasure.org", "code": "/min"}}})
    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries},
                      ensure_ascii=False).encode()


def stored_facts(hub: Hub) -> list[tuple[int, Any]]:
    """(stored size, event) of every FactsRecorded in the log."""
    found = []
    for notification in hub.app.recorder.select_notifications(start=1, limit=10_000):
        event = hub.app.readable(notification)
        if isinstance(event, Elder.FactsRecorded):
            found.append((len(notification.state), event))
    return found


def test_a_bundles_facts_are_stored_in_a_tenth_of_their_json(hub: Hub) -> None:
    answer = hub.fhir.receive_bundle(vitals_bundle(resident_id(sequence="003"), 200), "DGSY")
    assert answer.status == 200, answer.body
    size, event = max(stored_facts(hub), key=lambda found: len(found[1].facts))
    assert len(event.facts) == 200
    assert {int(f.fact.value_quantity) for f in event.facts} == set(range(60, 90))
    as_json = hub.app.mapper.transcoder.encode(
        {k: v for k, v in vars(event).items() if not k.startswith("originator_")})
    assert size < len(as_json) / 10


def test_facts_stored_before_deflation_still_read(hub: Hub) -> None:
    compressor = hub.app.mapper.compressor
    hub.app.mapper.compressor = None  # as the hub stored events until 2026-11-24
    try:
        answer = hub.fhir.receive_bundle(vitals_bundle(resident_id(sequence="004"), 50), "DGSY")
        assert answer.status == 200
    finally:
        hub.app.mapper.compressor = compressor
    answer = hub.fhir.receive_bundle(vitals_bundle(resident_id(sequence="005"), 50), "DGSY")
    assert answer.status == 200
    sizes = sorted(size for size, event in stored_facts(hub) if len(event.facts) == 50)
    assert len(sizes) == 2 and sizes[1] > 5 * sizes[0]  # one stored plain, one deflated
    hub.projector.catch_up()
    for national in (resident_id(sequence="004"), resident_id(sequence="005")):
        [elder] = hub.read_model.find_elders(national, RESIDENT_ID)
        heart_rates = hub.read_model.timeline(elder["id"], kinds=["observation"], limit=500)
        assert len(heart_rates) == 50
