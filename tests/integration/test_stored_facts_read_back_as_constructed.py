"""Value objects read back from the store fill in their fields directly (event_store/
transcodings.py); each must be exactly the object its constructor makes from those fields."""

from __future__ import annotations

import dataclasses
from typing import Any

from adapters import demo_city
from adapters.bootstrap import Hub
from hub.values import VALUE_TYPES


def value_objects(value: Any) -> list[Any]:
    """Every registered value object inside a decoded event's attributes."""
    found = []
    if type(value) in VALUE_TYPES.values():
        found.append(value)
        for field in dataclasses.fields(value):
            found.extend(value_objects(getattr(value, field.name)))
    elif isinstance(value, tuple | list):
        for item in value:
            found.extend(value_objects(item))
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(value_objects(item))
    return found


def test_every_fact_of_a_city_reads_back_as_its_constructor_makes_it(sqlite_hub: Hub) -> None:
    demo_city.load(sqlite_hub, demo_city.generate(seed=9, elders=15))
    notifications = sqlite_hub.app.recorder.select_notifications(start=1, limit=100_000)
    kinds: set[str] = set()
    for notification in notifications:
        event = sqlite_hub.app.readable(notification)
        for obj in value_objects(vars(event)):
            kinds.add(type(obj).__name__)
            made = type(obj)(**{f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
            assert obj == made and hash(obj) == hash(made)
            assert list(vars(obj).items()) == list(vars(made).items())
    assert {"Source", "Coding", "Observation", "DatedFact", "Identifier"} <= kinds
    assert len(kinds) >= 12



def test_the_hub_stores_every_event_of_a_city_as_eventsourcing_would(sqlite_hub: Hub) -> None:
    """The hub's transcoder hands value objects' own attribute dicts to the JSON encoder;
    what it writes must be byte for byte what eventsourcing's own transcoder writes."""
    from eventsourcing.persistence import JSONTranscoder

    from event_store.transcodings import HubTranscoder

    demo_city.load(sqlite_hub, demo_city.generate(seed=9, elders=15))
    hub_transcoder = sqlite_hub.app.mapper.transcoder
    assert isinstance(hub_transcoder, HubTranscoder)
    library = JSONTranscoder()
    sqlite_hub.app.register_transcodings(library)
    notifications = sqlite_hub.app.recorder.select_notifications(start=1, limit=100_000)
    seen: set[str] = set()
    for notification in notifications:
        state = dict(vars(sqlite_hub.app.readable(notification)))
        seen.update(type(obj).__name__ for obj in value_objects(state))
        written = hub_transcoder.encode(state)
        assert written == library.encode(state)
        assert hub_transcoder.decode(written) == library.decode(written)
    assert {"Source", "Coding", "Observation", "DatedFact", "Identifier"} <= seen
