"""Messages that arrive together share one commit, and are decided exactly as one by one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.bootstrap import Hub, bootstrap
from adapters.settings import Settings
from bench.mllp import oru
from hub.elder import recorded_facts
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


@pytest.fixture
def two_processes(settings: Settings) -> Iterator[tuple[Hub, Hub]]:
    """Two hubs on one database, as two listener processes run them."""
    first, second = bootstrap(settings), bootstrap(settings)
    yield first, second
    first.close()
    second.close()


def test_a_second_hub_process_writing_to_an_elder_does_not_lose_the_firsts_next_message(
        two_processes: tuple[Hub, Hub]) -> None:
    """Each process remembers the elders it saved; when another process has written to one
    since, the next save meets that write, the stale copy is dropped and the message recorded."""
    first_process, second_process = two_processes
    national = resident_id(sequence="088")
    one = first_process.hl7.receive(adt(control_id="P1", national_id=national).encode(),
                                    "test")
    elder_id = one.receipt.elder_ids[0]
    assert first_process.app.elders.get(elder_id) is not None  # remembered as saved
    two = second_process.hl7.receive(adt("A08", control_id="P2", national_id=national,
                                         when="20260302080000+0800").encode(), "test")
    three = first_process.hl7.receive(adt("A08", control_id="P3", national_id=national,
                                          when="20260303080000+0800").encode(), "test")
    assert [a.ack_code for a in (one, two, three)] == ["AA", "AA", "AA"]
    assert {a.receipt.elder_ids[0] for a in (one, two, three)} == {elder_id}
    sources = [e.source.message_id for e in first_process.app.elder_events(elder_id)
               if recorded_facts(e)]
    assert sources == [a.receipt.message_id for a in (one, two, three)]


def test_a_batch_about_an_elder_another_process_changed_is_still_committed_together(
        two_processes: tuple[Hub, Hub]) -> None:
    """The second listener's copy of the elder is stale; its batch meets the newer version,
    is decided again on fresh reads and committed as one save, not message by message."""
    first_process, second_process = two_processes
    national = resident_id(sequence="090")
    known = second_process.hl7.receive(adt(control_id="Q0", national_id=national).encode(),
                                       "test")
    elder_id = known.receipt.elder_ids[0]
    first_process.hl7.receive(adt("A08", control_id="Q1", national_id=national,
                                  when="20260302080000+0800").encode(), "test")
    batch = [adt("A08", control_id=f"Q{i}", national_id=national,
                 when=f"2026030{i}080000+0800").encode() for i in range(3, 6)]
    answers = second_process.hl7.receive_many(batch, "test")
    assert [a.ack_code for a in answers] == ["AA"] * 3
    assert len({a.receipt.position for a in answers}) == 1  # one commit
    sources = [e.source.message_id for e in second_process.app.elder_events(elder_id)
               if recorded_facts(e)]
    assert len(sources) == 5 and len(set(sources)) == 5


def test_a_lab_report_is_one_event_of_ten_results_on_the_elders_stream(hub: Hub) -> None:
    answer = hub.hl7.receive(oru(7, 3), "test")
    events = [e for e in hub.app.elder_events(answer.receipt.elder_ids[0]) if recorded_facts(e)]
    kinds = [[d.fact.kind for d in recorded_facts(e)] for e in events]
    assert kinds == [["demographics"], ["observation"] * 10]  # contact data kept apart
    hub.projector.catch_up()
    timeline = hub.read_model.timeline(str(answer.receipt.elder_ids[0]), kinds=["observation"])
    assert len(timeline) == 10
    assert len({entry["cursor"] for entry in timeline}) == 10
