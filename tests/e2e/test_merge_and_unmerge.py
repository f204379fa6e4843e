"""Two records of one elder become one person after review, and a wrong merge is undone exactly.

陈桂芳 is registered by one hospital with her 身份证 and by another, in traditional characters,
with its record number only. The look-alike pair is put in front of the city's reviewer, who
links them; the hospitals then see one person. When the link proves wrong, the unmerge gives
both back exactly as their own records say, including what arrived while they were merged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import UUID

import pytest

from adapters.bootstrap import Hub
from event_store.projector import Projector
from event_store.readmodel import ReadModel, define_tables
from hub.identity_review import CandidateDecided
from hub.projections import profile as profile_fold
from tests.api import headers
from tests.identity_city import City, open_city
from tests.messages import adt, resident_id

NATIONAL = resident_id("442527", "19440818", "022")
PENICILLIN = "AL1|1|DA|PEN^青霉素^L|SV|皮疹"
SULFA = "AL1|1|DA|SUL^磺胺^L|MO|皮疹"


@pytest.fixture
def city(hub: Hub) -> Iterator[City]:
    yield from open_city(hub)


def both_registered(city: City) -> tuple[str, str]:
    assert "MSA|AA" in city.hl7("H1", adt(
        "A04", control_id="H1-1", facility="H1", mrn="P-1", national_id=NATIONAL,
        family="陈", given="桂芳", birth="19440818", when="20260301080000+0800",
        extra=(PENICILLIN,)))
    assert "MSA|AA" in city.hl7("H2", adt(
        "A04", control_id="H2-1", facility="H2", mrn="Q-2", family="陳", given="桂芳",
        birth="19440818", when="20260302090000+0800"))
    return city.elder("urn:yyhub:mrn:H1|P-1"), city.elder("urn:yyhub:mrn:H2|Q-2")


def snapshot(city: City, elder_id: str) -> tuple[dict, dict]:
    return (city.read(f"/elders/{elder_id}/profile"),
            city.read(f"/elders/{elder_id}/timeline", limit=1000))


def test_reviewed_link_makes_one_person_and_unmerge_restores_both_exactly(city: City) -> None:
    first, second = both_registered(city)
    assert first != second
    before_first, before_second = snapshot(city, first), snapshot(city, second)
    assert city.call("GET", f"/elders/{first}/profile", "H2").status_code == 404

    # The look-alike pair waits for review, with its reasons; nothing was linked.
    candidates = city.read("/identity/candidates")
    assert [(c["existing"], c["newcomer"]) for c in candidates] == [(first, second)]
    assert candidates[0]["reasons"] and candidates[0]["grade"] in ("probable", "possible")
    assert city.call("GET", "/identity/candidates", "H1").status_code == 403

    linked = city.call("POST", f"/identity/candidates/{candidates[0]['candidate_id']}/link",
                       "ADM", json={"reason": "电话核实为同一人"})
    assert linked.status_code == 200, linked.text
    again = city.call("POST", f"/identity/candidates/{candidates[0]['candidate_id']}/distinct",
                      "ADM", json={"reason": "重复点击"})
    assert again.status_code == 409
    decided = city.read("/identity/candidates", status="linked",
                        wait_for=linked.headers["X-Hub-Position"])
    assert (decided[0]["decided_by"], decided[0]["decision_reason"]) == ("ADM", "电话核实为同一人")

    # One person: either id shows the survivor, with both hospitals' records.
    merged = city.read(f"/elders/{second}/profile")
    assert merged == city.read(f"/elders/{first}/profile")
    assert merged["elder_id"] == first and merged["members"] == [first, second]
    held = {(i["system"], i["value"]) for i in merged["identifiers"]}
    assert {("urn:yyhub:mrn:H1", "P-1"), ("urn:yyhub:mrn:H2", "Q-2")} <= held
    assert [e["id"] for e in city.read("/elders", identifier="urn:yyhub:mrn:H2|Q-2")] == [first]
    timeline = city.read(f"/elders/{first}/timeline", limit=1000)["entries"]
    assert len(timeline) == len(before_first[1]["entries"]) + len(before_second[1]["entries"])
    # Access follows the merge: the second hospital reads the person, $everything included.
    assert city.call("GET", f"/elders/{first}/profile", "H2").status_code == 200
    everything = city.call("GET", f"/fhir/Patient/{first}/$everything", "H2")
    assert everything.status_code == 200, everything.text

    # A fact that arrives while merged is recorded where its identifier points, and shown.
    city.hl7("H2", adt("A08", control_id="H2-2", facility="H2", mrn="Q-2", family="陳",
                       given="桂芳", birth="19440818", when="20260305100000+0800",
                       extra=(SULFA,)))
    allergies = city.read(f"/elders/{first}/profile", wait_for=city.position)["allergies"]
    assert len(allergies) == 2
    assert any("青霉素" in a["summary"] for a in allergies)
    assert any("磺胺" in a["summary"] for a in allergies)

    undone = city.call("POST", "/identity/unmerges", "ADM",
                       json={"elder_id": second, "reason": "复核发现为两人"})
    assert undone.status_code == 200, undone.text
    city.position = undone.headers["X-Hub-Position"]
    city.read("/elders", identifier=NATIONAL, wait_for=city.position)

    # Exactly as before, field by field; the second also keeps what came in between.
    after_first, after_second = snapshot(city, first), snapshot(city, second)
    assert after_first == before_first
    own_events = city.hub.app.elder_events(UUID(second))
    expected_second = profile_fold.fold(second, own_events)
    assert after_second[0] == expected_second
    assert {k: v for k, v in after_second[0].items() if k not in (
        "allergies", "events_applied", "last_recorded_at", "demographics",
        "demographics_provenance", "identifiers")} == \
        {k: v for k, v in before_second[0].items() if k not in (
            "allergies", "events_applied", "last_recorded_at", "demographics",
            "demographics_provenance", "identifiers")}
    new_entries = after_second[1]["entries"][len(before_second[1]["entries"]):]
    assert after_second[1]["entries"][:len(before_second[1]["entries"])] == \
        before_second[1]["entries"]
    assert new_entries and all(e["source"]["organisation"] == "H2" for e in new_entries)
    assert city.call("GET", f"/elders/{first}/profile", "H2").status_code == 404
    assert [e["id"] for e in city.read("/elders", identifier="urn:yyhub:mrn:H2|Q-2")] == [second]

    # A rebuild from zero gives the same read model as the live one.
    fresh = ReadModel(city.hub.read_model.engine, define_tables("rebuild_"))
    fresh.create()
    rebuilder = Projector(city.hub.app, fresh, batch_size=7)
    rebuilder.ensure_tracking()
    rebuilder.catch_up()
    live = city.hub.read_model
    assert live.all_profiles() == fresh.all_profiles()
    for elder_id in (first, second):
        assert live.profile(elder_id) == fresh.profile(elder_id)
        assert live.timeline(elder_id) == fresh.timeline(elder_id)
        assert live.relationships(elder_id) == fresh.relationships(elder_id)
    assert live.candidates(None) == fresh.candidates(None)


def test_a40_merges_the_mrg_patient_into_the_pid_patient(city: City) -> None:
    city.hl7("H1", adt("A04", control_id="M-1", facility="H1", mrn="OLD-9", family="王",
                       given="建国", birth="19380712", sex="M"))
    old = city.elder("urn:yyhub:mrn:H1|OLD-9")
    city.hl7("H1", adt("A04", control_id="M-2", facility="H1", mrn="NEW-9", family="王",
                       given="建国", birth="19380712", sex="M"))
    new = city.elder("urn:yyhub:mrn:H1|NEW-9")
    a40 = adt("A40", control_id="M-3", facility="H1", mrn="NEW-9", family="王", given="建国",
              birth="19380712", sex="M", extra=("MRG|OLD-9^^^H1^MR",))
    assert "MSA|AA" in city.hl7("H1", a40)
    assert city.elder("urn:yyhub:mrn:H1|OLD-9") == new
    assert city.read(f"/elders/{old}/profile")["members"] == [new, old]
    assert "MSA|AA" in city.hl7("H1", a40)  # a resend changes nothing
    # A merged-away record the hub never saw: its number now names the survivor.
    unknown = city.hl7("H1", adt("A40", control_id="M-4", facility="H1", mrn="NEW-9",
                                 extra=("MRG|NEVER-SEEN^^^H1^MR",)))
    assert "MSA|AA" in unknown and "merge-unknown-record" in unknown
    assert city.elder("urn:yyhub:mrn:H1|NEVER-SEEN") == new


def test_fhir_patient_that_replaces_another_absorbs_it(city: City) -> None:
    city.hl7("H1", adt("A04", control_id="F-1", facility="H1", mrn="DUP-1", family="李",
                       given="秀兰", birth="19420101"))
    duplicate = city.elder("urn:yyhub:mrn:H1|DUP-1")
    created = city.client.post("/fhir/Patient", headers=headers(city.keys["H1"]), json={
        "resourceType": "Patient",
        "identifier": [{"system": "urn:yyhub:mrn:H1", "value": "KEEP-1"}],
        "name": [{"text": "李秀兰"}], "birthDate": "1942-01-01",
        "link": [{"other": {"reference": f"Patient/{duplicate}"}, "type": "replaces"}]})
    assert created.status_code == 201, created.text
    city.position = created.headers["X-Hub-Position"]
    keeper = city.elder("urn:yyhub:mrn:H1|KEEP-1")
    assert keeper != duplicate
    assert city.elder("urn:yyhub:mrn:H1|DUP-1") == keeper
    assert city.read(f"/elders/{duplicate}/profile")["elder_id"] == keeper
    for asked in (keeper, duplicate):  # FHIR readers see the merge too, whichever id they hold
        patient = city.read(f"/fhir/Patient/{asked}", wait_for=city.position)
        assert patient["id"] == keeper
        assert patient["link"] == [{"other": {"reference": f"Patient/{duplicate}"},
                                    "type": "replaces"}]


def test_two_valid_ids_are_never_candidates_and_a_distinct_pair_stays_closed(city: City) -> None:
    # Twins: same name sound, same birth date, each with their own valid 身份证.
    for control, mrn, sequence in (("T-1", "TW-1", "031"), ("T-2", "TW-2", "033")):
        city.hl7("H1", adt("A04", control_id=control, facility="H1", mrn=mrn, family="刘",
                           given="秀珍", birth="19400505",
                           national_id=resident_id("442527", "19400505", sequence)))
    # Someone else who looks like the first twin but has no 身份证.
    city.hl7("H2", adt("A04", control_id="T-3", facility="H2", mrn="TW-3", family="劉",
                       given="秀珍", birth="19400505"))
    city.elder("urn:yyhub:mrn:H2|TW-3")
    candidates = city.read("/identity/candidates")
    twins = {city.elder("urn:yyhub:mrn:H1|TW-1"), city.elder("urn:yyhub:mrn:H1|TW-2")}
    assert all({c["existing"], c["newcomer"]} != twins for c in candidates)
    assert candidates
    for candidate in candidates:
        closed = city.call("POST", f"/identity/candidates/{candidate['candidate_id']}/distinct",
                           "REG", json={"reason": "身份证核对为不同人"})
        assert closed.status_code == 200, closed.text
        city.position = closed.headers["X-Hub-Position"]
    # A later update of the same person does not bring the closed pair back.
    city.hl7("H2", adt("A08", control_id="T-4", facility="H2", mrn="TW-3", family="劉",
                       given="秀珍", birth="19400505", phone="13900139000"))
    assert city.read("/identity/candidates", wait_for=city.position) == []
    assert len(city.read("/identity/candidates", status="distinct")) == len(candidates)


def test_two_reviewers_deciding_one_candidate_at_once_leave_one_decision(city: City) -> None:
    first, second = both_registered(city)
    candidate = city.read("/identity/candidates")[0]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(link: bool) -> None:
        barrier.wait()
        try:
            city.hub.app.decide_candidate(UUID(candidate["candidate_id"]), link=link,
                                          decided_by="ADM", reason="并发复核",
                                          decided_at=datetime.now(UTC))
            outcomes.append("linked" if link else "distinct")
        except CandidateDecided:
            outcomes.append("refused")

    threads = [threading.Thread(target=decide, args=(link,)) for link in (True, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("refused") == 1
    decided = [o for o in outcomes if o != "refused"]
    city.hub.projector.catch_up()
    status = city.hub.read_model.candidates(None)[0]["status"]
    assert status == decided[0]
    members = city.read(f"/elders/{second}/profile").get("members")
    assert (members == [first, second]) == (status == "linked")
