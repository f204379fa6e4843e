"""Raw messages are stored deflated when large (event_store/transcodings.py), read back byte for
byte, and events written before that still read."""

from __future__ import annotations

import os

from eventsourcing.persistence import JSONTranscoder
from hypothesis import given, settings
from hypothesis import strategies as st

from event_store.transcodings import DEFLATE_FROM, HubTranscoder, register_all


def _transcoder() -> JSONTranscoder:
    transcoder = HubTranscoder()
    register_all(transcoder)
    return transcoder


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=3 * DEFLATE_FROM))
def test_any_bytes_read_back_exactly(raw: bytes) -> None:
    transcoder = _transcoder()
    assert transcoder.decode(transcoder.encode({"raw": raw})) == {"raw": raw}


def test_a_large_message_is_stored_deflated_and_read_back_exactly() -> None:
    transcoder = _transcoder()
    bundle = ('{"resourceType":"Bundle","type":"transaction","entry":['
              + ",".join('{"resource":{"resourceType":"Observation","status":"final",'
                         f'"code":{{"text":"血压 {i}"}}}}}}' for i in range(500))
              + "]}").encode("utf-8")
    noise = os.urandom(50_000)  # encrypted or compressed input does not deflate
    for raw in (bundle, noise, b"MSH|^~\\&|" + b"x" * DEFLATE_FROM):
        stored = transcoder.encode({"raw": raw})
        assert transcoder.decode(stored) == {"raw": raw}
    assert len(transcoder.encode({"raw": bundle})) < len(bundle) / 5


def test_bytes_stored_before_deflation_still_read() -> None:
    """Events written before 2026-11-24 hold bytes as `bytes_b64`."""
    stored = b'{"raw":{"_type_":"bytes_b64","_data_":"TVNIfF5+XCZ8"}}'
    assert _transcoder().decode(stored) == {"raw": b"MSH|^~\\&|"}
