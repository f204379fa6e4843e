"""Large event states are stored deflated (event_store/compression.py); small ones, and states
stored before, read as they are."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from event_store.compression import DEFLATE_FROM, LargeStatesDeflated

json_objects = st.dictionaries(st.text(max_size=20), st.one_of(
    st.text(max_size=200), st.integers(), st.lists(st.text(max_size=50), max_size=40)),
    max_size=60).map(lambda d: json.dumps(d, ensure_ascii=False).encode())


@settings(max_examples=300, deadline=None)
@given(state=json_objects)
def test_any_state_reads_back_exactly(state: bytes) -> None:
    compressor = LargeStatesDeflated()
    assert compressor.decompress(compressor.compress(state)) == state


def test_a_bundles_facts_are_stored_in_a_fraction_of_their_json() -> None:
    facts = json.dumps({"facts": [{"_type_": "Observation", "_data_": {
        "code": {"system": "http://loinc.org", "code": "8867-4", "display": "心率"},
        "value_quantity": str(60 + i % 40), "unit": "/min", "status": "final"}}
        for i in range(300)]}, ensure_ascii=False).encode()
    stored = LargeStatesDeflated().compress(facts)
    assert len(stored) < len(facts) / 10
    assert LargeStatesDeflated().decompress(stored) == facts


def test_small_states_are_stored_as_they_are() -> None:
    state = json.dumps({"sender": "DGSY", "text": "张秀英"}, ensure_ascii=False).encode()
    assert len(state) < DEFLATE_FROM
    assert LargeStatesDeflated().compress(state) == state


def test_states_stored_before_deflation_still_read() -> None:
    """Events written before 2026-11-24 hold their JSON as it was encoded, large or small."""
    large = json.dumps({"note": "血压平稳" * 1000}, ensure_ascii=False).encode()
    assert LargeStatesDeflated().decompress(large) == large
