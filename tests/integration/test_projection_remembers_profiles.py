"""The elder handler remembers the profiles it wrote instead of reading them back; whatever
else happened to the rows meanwhile, the read model stays the fold of the log."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy.engine import Connection

from adapters.bootstrap import Hub
from event_store.projector import ElderHandler, Projector, default_handlers
from event_store.readmodel import ReadModel, Tables, define_tables
from hub.projections import profile
from tests.messages import adt, resident_id


def send_admissions(hub: Hub, start: int, count: int) -> None:
    for i in range(start, start + count):
        national = resident_id(sequence=f"{i % 6:03d}", birth="19400101")
        hub.hl7.receive(adt(control_id=f"M{i}", national_id=national, mrn=f"M{i}",
                            extra=("AL1|1|DA|PEN^青霉素^L|SV|皮疹",)).encode(), "test")


def rebuilt(hub: Hub) -> ReadModel:
    fresh = ReadModel(hub.read_model.engine, define_tables("rebuild_"))
    fresh.create()
    rebuilder = Projector(hub.app, fresh, batch_size=7)
    rebuilder.ensure_tracking()
    rebuilder.catch_up()
    return fresh


def assert_same_as_rebuild(hub: Hub) -> None:
    fresh = rebuilt(hub)
    live = hub.read_model.all_profiles()
    assert len(live) == 6
    assert live == fresh.all_profiles()
    for elder_id in live:
        assert hub.read_model.timeline(elder_id) == fresh.timeline(elder_id)


class FailOnce:
    """A handler that fails its first batch after the elder handler has written it."""

    def __init__(self) -> None:
        self.failed = False

    def handle(self, conn: Connection, tables: Tables, batch: list[tuple[int, Any]]) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("the database said no")


def test_profiles_after_a_rolled_back_batch_are_the_fold_of_the_log(hub: Hub) -> None:
    send_admissions(hub, 0, 12)
    hub.projector.catch_up()
    send_admissions(hub, 12, 12)
    failing = FailOnce()
    projector = Projector(hub.app, hub.read_model,
                          handlers=[*default_handlers(), failing], batch_size=50)
    with pytest.raises(RuntimeError):
        projector.catch_up()
    assert failing.failed
    projector.catch_up()
    assert_same_as_rebuild(hub)


def test_two_workers_taking_turns_leave_the_profiles_a_rebuild_gives(hub: Hub) -> None:
    send_admissions(hub, 0, 30)
    first = Projector(hub.app, hub.read_model, handlers=[ElderHandler()], batch_size=4)
    second = Projector(hub.app, hub.read_model, handlers=[ElderHandler()], batch_size=3)
    last = hub.app.recorder.max_notification_id()
    step = max(1, last // 12)
    turn = 0
    assert first.position() == 0
    while first.position() < last:
        worker = (first, second)[turn % 2]
        worker.catch_up(until=worker.position() + step)
        turn += 1
    assert_same_as_rebuild(hub)


def test_a_profile_once_folded_never_changes_when_later_events_are_folded(sqlite_hub: Hub
                                                                         ) -> None:
    """The remembered profiles and the as-of checkpoints both rely on `apply` being pure."""
    for i in range(4):  # the same allergy again, and other facts, for one elder
        sqlite_hub.hl7.receive(adt(control_id=f"P{i}", national_id=resident_id(),
                                   mrn=f"P{i}", extra=(
                                       f"AL1|1|DA|PEN^青霉素^L|SV|皮疹{i}",
                                       f"AL1|2|DA|SUL{i}^磺胺{i}^L|MO|皮疹")).encode(), "test")
    sqlite_hub.projector.catch_up()
    (elder_id,) = sqlite_hub.read_model.all_profiles()
    state, seen = profile.initial(elder_id), []
    for event in sqlite_hub.app.elder_events(UUID(elder_id)):
        state = profile.apply(state, event)
        seen.append((state, json.dumps(state, ensure_ascii=False)))
    assert len(state["allergies"]) == 5
    for folded, as_it_was in seen:
        assert json.dumps(folded, ensure_ascii=False) == as_it_was
