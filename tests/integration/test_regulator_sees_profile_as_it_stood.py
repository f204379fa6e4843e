"""A regulator asks how an elder's profile stood at a past instant: the answer, read from the
nearest profile checkpoint, is exactly the fold of the events the hub had recorded by then."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.bootstrap import Hub
from bench.mllp import oru
from bench.mllp import resident_id as bench_resident_id
from event_store.projector import ElderHandler
from hub.projections import profile
from tests.messages import adt

EVERY = 20  # a checkpoint every 20 events of a stream, so a short history has several


@pytest.fixture
def checkpointing_hub(hub: Hub) -> Iterator[Hub]:
    for handler in hub.projector.handlers:
        if isinstance(handler, ElderHandler):
            handler.checkpoint_every = EVERY
    yield hub


def care_history(hub: Hub, messages: int) -> Any:
    """Lab reports for one elder, with an address change now and then; returns the elder."""
    national = bench_resident_id(0)
    first = hub.hl7.receive(adt(control_id="REG", national_id=national, mrn="M0", family="王",
                                given="建0").encode(), "test")
    elder_id = first.receipt.elder_ids[0]
    for i in range(messages):
        if i % 10 == 5:
            hub.hl7.receive(adt("A08", control_id=f"MOVE{i}", national_id=national, mrn="M0",
                                family="王", given="建0", when=f"202603{i % 28 + 1:02d}080000+0800",
                                address=f"东城街道{i}号^^东莞市^广东省").encode(), "test")
        else:
            hub.hl7.receive(oru(i, 1), "test")
    return elder_id


def checkpoints(hub: Hub, elder_id: Any) -> list[int]:
    t = hub.read_model.t.profile_checkpoint
    with hub.read_model.engine.connect() as conn:
        return [row.version for row in conn.execute(
            sa.select(t.c.version).where(t.c.elder_id == str(elder_id)).order_by(t.c.version))]


def plain_fold(hub: Hub, elder_id: Any, as_of: datetime) -> dict[str, Any] | None:
    known = [e for e in hub.app.elder_events(elder_id) if e.timestamp <= as_of]
    return profile.fold(elder_id, known) if known else None


def test_a_regulators_as_of_profile_equals_the_fold_of_what_was_recorded_by_then(
        checkpointing_hub: Hub) -> None:
    hub = checkpointing_hub
    elder_id = care_history(hub, 35)
    # An operator decides a look-alike record is the same person: the merge is in this stream,
    # but its checkpoints stay this stream's own profile, never the merged person's.
    other = hub.hl7.receive(adt(control_id="TWIN", national_id=bench_resident_id(1), mrn="M1",
                                family="王", given="建一", phone="13700000000").encode(),
                            "test").receipt.elder_ids[0]
    hub.app.merge(elder_id, other, decided_by="审核员", reason="同一人",
                  occurred_at=datetime.now(UTC))
    for i in range(35, 70):
        hub.hl7.receive(oru(i, 1), "test")
    hub.projector.catch_up()

    events = hub.app.elder_events(elder_id)
    last = events[-1].originator_version
    assert last > 2 * EVERY + 10
    assert checkpoints(hub, elder_id) == list(range(EVERY, last + 1, EVERY))
    at = {e.originator_version: e.timestamp for e in events}
    instants = {
        "before anything was recorded": events[0].timestamp - timedelta(seconds=1),
        "the first event": events[0].timestamp,
        "before the first checkpoint": at[EVERY // 2],
        "exactly at the first checkpoint": at[EVERY],
        "just after a checkpoint": at[2 * EVERY] + timedelta(microseconds=1),
        "between checkpoints": at[2 * EVERY + 7],
        "after the last checkpoint": at[last - 1],
        "the last event": at[last],
        "now": datetime.now(UTC) + timedelta(hours=8),
    }
    for name, instant in instants.items():
        assert hub.profile_as_of(elder_id, instant) == plain_fold(hub, elder_id, instant), name
    assert hub.profile_as_of(elder_id, instants["before anything was recorded"]) is None
    assert hub.read_model.profile_checkpoint(str(elder_id), at[EVERY]) is not None
    assert hub.read_model.profile_checkpoint(str(elder_id), at[EVERY])[0] == EVERY
    # Now, it is the stream's own profile row (the person read composes it with the twin's).
    t = hub.read_model.t.profile
    with hub.read_model.engine.connect() as conn:
        own = conn.execute(sa.select(t.c.document).where(t.c.elder_id == str(elder_id))).scalar()
    assert hub.profile_as_of(elder_id, instants["now"]) == own
    twin = bench_resident_id(1)
    assert twin not in str(own) and twin in str(hub.read_model.profile(str(elder_id)))

    # A rebuild writes the same checkpoints again.
    with hub.read_model.engine.connect() as conn:
        before = conn.execute(sa.select(hub.read_model.t.profile_checkpoint)
                              .order_by("elder_id", "version")).all()
    hub.read_model.drop()
    hub.read_model.create()
    hub.projector.ensure_tracking()
    hub.projector.catch_up()
    with hub.read_model.engine.connect() as conn:
        after = conn.execute(sa.select(hub.read_model.t.profile_checkpoint)
                             .order_by("elder_id", "version")).all()
    assert after == before


def test_after_erasure_no_checkpoint_of_the_elder_remains(checkpointing_hub: Hub) -> None:
    hub = checkpointing_hub
    elder_id = care_history(hub, 45)
    hub.projector.catch_up()
    assert len(checkpoints(hub, elder_id)) >= 2

    hub.eraser.erase(elder_id, "本人", "个人信息保护法第四十七条 撤回同意")
    hub.projector.catch_up()
    assert checkpoints(hub, elder_id) == []
    # As of any instant, what is still readable (clinical records under retention) is folded.
    for instant in (datetime.now(UTC), hub.app.elder_events(elder_id)[10].timestamp):
        assert hub.profile_as_of(elder_id, instant) == plain_fold(hub, elder_id, instant)

    # Rebuilding the read model does not bring them back.
    hub.read_model.drop()
    hub.read_model.create()
    hub.projector.ensure_tracking()
    hub.projector.catch_up()
    assert checkpoints(hub, elder_id) == []
