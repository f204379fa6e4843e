"""Messages that arrive together share one commit, and are decided exactly as one by one."""

from __future__ import annotations

from adapters.bootstrap import Hub
from tests.integration.test_hospital_messages_become_facts import fact_events
from tests.messages import adt, resident_id


def test_a_batch_with_a_resend_inside_and_a_stored_resend_records_each_once(hub: Hub) -> None:
    national = resident_id(sequence="082")
    first = adt(control_id="T1", national_id=national, mrn="T-1").encode()
    stored = hub.hl7.receive(first, "test")
    facts_before = fact_events(hub)
    second = adt("A08", control_id="T2", national_id=national, mrn="T-1",
                 when="20260302080000+0800").encode()
    third = adt(control_id="T3", national_id=resident_id(sequence="084"), mrn="T-3").encode()
    answers = hub.hl7.receive_many([second, first, third, second], "test")
    assert [a.ack_code for a in answers] == ["AA"] * 4
    assert [a.receipt.outcome for a in answers] == ["accepted", "duplicate", "accepted",
                                                    "duplicate"]
    assert answers[0].receipt.elder_ids == stored.receipt.elder_ids
    assert fact_events(hub) == facts_before + 2  # demographics of T2 and of T3, once each


def test_new_elders_in_one_batch_are_registered_once(hub: Hub) -> None:
    national = resident_id(sequence="086")
    batch = [adt(control_id=f"N{i}", national_id=national, mrn=f"N-{i}").encode()
             for i in range(5)]
    answers = hub.hl7.receive_many(batch, "test")
    assert [a.receipt.outcome for a in answers] == ["accepted"] * 5
    assert len({a.receipt.elder_ids[0] for a in answers}) == 1
    assert len({a.receipt.position for a in answers}) == 1  # one commit
    hub.projector.catch_up()
    assert len(hub.read_model.find_elders(national)) == 1
