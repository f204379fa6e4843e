"""A hospital's ADT messages become facts on one elder, once, on both backends."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from adapters.bootstrap import Hub
from hub.elder import recorded_facts
from hub.projections import profile
from tests.messages import adt, resident_id

AL1 = "AL1|1|DA|PEN^青霉素^L|SV|皮疹"
DG1 = "DG1|1||I10^高血压^I10|高血压||W"
PV1 = ("PV1|1|I|神经内科^302^2^DGSY||||D017^黄^伟|||NEU||||||||||V1"
       "|||||||||||||||||||||||||20260301080000+0800")


def fact_events(hub: Hub) -> int:
    """How many facts the store holds, over every elder."""
    recorder = hub.app.recorder
    return sum(len(recorded_facts(hub.app.mapper.to_domain_event(n)))
               for n in recorder.select_notifications(start=1, limit=100000)
               if n.topic.endswith("Elder.FactsRecorded"))


def test_resent_message_is_acknowledged_again_and_adds_no_facts(hub: Hub) -> None:
    raw = adt(national_id=resident_id(), extra=(AL1, DG1, PV1)).encode()
    first = hub.hl7.receive(raw, "test")
    facts_after_first = fact_events(hub)
    second = hub.hl7.receive(raw, "test")
    assert (first.ack_code, second.ack_code) == ("AA", "AA")
    assert second.receipt.outcome == "duplicate"
    assert fact_events(hub) == facts_after_first == 4  # demographics, allergy, diagnosis, visit
    hub.projector.catch_up()
    assert hub.read_model.inbound()[0]["resends"] == 1


def test_two_concurrent_first_messages_about_a_new_person_make_one_elder(hub: Hub) -> None:
    national = resident_id(sequence="014")
    messages = [adt(control_id=f"C{i}", national_id=national, mrn=f"MR-{i}").encode()
                for i in range(6)]
    barrier = threading.Barrier(len(messages))
    answers = []

    def send(raw: bytes) -> None:
        barrier.wait()
        answers.append(hub.hl7.receive(raw, "test"))

    threads = [threading.Thread(target=send, args=(m,)) for m in messages]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.ack_code for a in answers) == ["AA"] * 6
    assert len({a.receipt.elder_ids[0] for a in answers}) == 1
    hub.projector.catch_up()
    found = hub.read_model.find_elders(national)
    assert len(found) == 1
    mrns = {i["value"] for i in hub.read_model.profile(found[0]["id"])["identifiers"]}
    assert {f"MR-{i}" for i in range(6)} <= mrns


def test_unsupported_and_unreadable_messages_are_kept_with_reasons(hub: Hub) -> None:
    oru = adt(control_id="X1").replace("ADT^A01^ADT_A01", "SIU^S12^SIU_S12").encode()
    garbage = b"this is not HL7 at all"
    assert hub.hl7.receive(oru, "test").ack_code == "AE"
    assert hub.hl7.receive(garbage, "test").ack_code == "AR"
    hub.projector.catch_up()
    rejected = {r["message_type"]: r for r in hub.read_model.inbound("rejected")}
    assert rejected["SIU^S12"]["problems"][0]["code"] == "unsupported-message-type"
    assert rejected[""]["problems"][0]["code"] == "no-msh"
    raw_kept = {bytes(e.raw) for e in _received_events(hub)}
    assert {oru, garbage} <= raw_kept
    assert fact_events(hub) == 0


def test_a_late_message_does_not_overwrite_a_newer_phone_number(hub: Hub) -> None:
    national = resident_id()
    newer = adt("A08", control_id="N", national_id=national, phone="13911112222",
                when="20260305080000+0800")
    older = adt("A08", control_id="O", national_id=national, phone="13800000000",
                when="20260301080000+0800")
    hub.hl7.receive(newer.encode(), "test")
    answer = hub.hl7.receive(older.encode(), "test")
    hub.projector.catch_up()
    document = hub.read_model.profile(str(answer.receipt.elder_ids[0]))
    assert document["demographics"]["phone"] == "13911112222"


def test_profile_as_of_an_earlier_instant_shows_the_earlier_state(hub: Hub) -> None:
    national = resident_id()
    first = hub.hl7.receive(adt(control_id="1", national_id=national,
                                address="东城街道^^东莞市^广东省").encode(), "test")
    between = datetime.now(UTC)
    hub.hl7.receive(adt("A08", control_id="2", national_id=national,
                        when="20260302080000+0800", address="南城街道^^东莞市^广东省").encode(),
                    "test")
    elder_id = first.receipt.elder_ids[0]
    events = hub.app.elder_events(elder_id)
    then = profile.fold(elder_id, [e for e in events if e.timestamp <= between])
    now = profile.fold(elder_id, events)
    assert then["demographics"]["address"] == "广东省东莞市东城街道"
    assert now["demographics"]["address"] == "广东省东莞市南城街道"
    hub.projector.catch_up()
    assert hub.read_model.profile(str(elder_id)) == now


def test_chinese_names_round_trip_in_utf8_and_gb18030(hub: Hub) -> None:
    utf8 = adt(control_id="U", national_id=resident_id(sequence="022"), family="欧阳",
               given="秀珍", mrn="U1")
    gb = adt(control_id="G", national_id=resident_id(sequence="024"), family="司马",
             given="䶮龘", mrn="G1", charset="GB 18030-2000")
    a = hub.hl7.receive(utf8.encode("utf-8"), "test")
    b = hub.hl7.receive(gb.encode("gb18030"), "test")
    hub.projector.catch_up()
    assert hub.read_model.profile(str(a.receipt.elder_ids[0]))["demographics"]["name"] == "欧阳秀珍"
    assert hub.read_model.profile(str(b.receipt.elder_ids[0]))["demographics"]["name"] == "司马䶮龘"


def _received_events(hub: Hub) -> list:
    notifications = hub.app.recorder.select_notifications(start=1, limit=100000)
    events = [hub.app.mapper.to_domain_event(n) for n in notifications
              if n.topic.endswith(("InboundMessage.Rejected", "InboundMessage.Accepted"))]
    return events
