"""Acceptance 3 (short run): hostile and broken input at every door — HL7 v2 (the ER7 reader and
the mappings), FHIR resources and Bundles, CSV/JSON record files. Whatever arrives is answered,
never crashes the hub, and every refusal is kept with its reasons. `bench/fuzz.py` runs the same
properties for 100,000 inputs per door."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.bootstrap import Hub, bootstrap
from adapters.hl7v2.mllp import FrameReader, frame
from adapters.settings import Settings
from tests.fuzz_doors import HL7_INPUT, check_fhir, check_hl7, check_records, fhir_body, record_file

EXAMPLES = int(os.environ.get("YYHUB_FUZZ_EXAMPLES", "250"))
SHORT = settings(max_examples=EXAMPLES, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])


@pytest.fixture(scope="module")
def fuzzed_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """One hub per door's run: inputs pile up in it as they would in production."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    running = bootstrap(Settings(database_url=f"sqlite:///{folder}/hub.db"))
    yield running
    running.close()


# Inputs that once failed (found by bench/fuzz.py), replayed on every run.
FOUND_BY_FUZZING = [
    b"MSH|^~\\&|LIS|DGSY|YYHUB|CITY|20260301090000+0800||ORU^R01^ORU_R01|Z1|P|2.5\r"
    b"PID|1||M1^^^DGSY^MR~442MSH|527193101010019^^^CHN^NNCHN||X||19460315|F\r"
    b"OBR|1||RZ1|24331-1^X^LN|||20260301080000+0800\rOBX|1|NM|8861-1^X^LN||72|mmol/L|||||F\r",
]


@SHORT
@given(raw=HL7_INPUT)
@example(raw=FOUND_BY_FUZZING[0])
def test_a_hospital_sending_garbage_hl7_gets_an_ack_and_the_garbage_is_kept(
        fuzzed_hub: Hub, raw: bytes) -> None:
    check_hl7(fuzzed_hub, raw)


@SHORT
@given(body=fhir_body())
def test_a_broken_fhir_client_gets_an_operation_outcome_never_a_crash(
        fuzzed_hub: Hub, body: tuple[str, bytes]) -> None:
    check_fhir(fuzzed_hub, *body)


@SHORT
@given(upload=record_file())
def test_a_care_home_uploading_a_mangled_file_hears_why_record_by_record(
        fuzzed_hub: Hub, upload: tuple[bytes, str]) -> None:
    check_records(fuzzed_hub, *upload)


@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.integers(65, 50_000), opener=st.sampled_from(["[", '{"a":']))
def test_json_nested_deeper_than_any_record_is_refused_with_a_reason(
        fuzzed_hub: Hub, depth: int, opener: str) -> None:
    body = (opener * depth).encode()
    assert check_fhir(fuzzed_hub, "Patient", body) == 400
    assert check_records(fuzzed_hub, body, "application/json") == "unreadable"


PAYLOAD = st.binary(max_size=300).map(lambda b: b.replace(b"\x0b", b"").replace(b"\x1c", b""))


@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(payloads=st.lists(PAYLOAD, max_size=8), junk=st.binary(max_size=40).map(
    lambda b: b.replace(b"\x0b", b"")), cuts=st.lists(st.integers(0, 4000), max_size=12))
def test_mllp_framing_finds_every_message_however_the_bytes_are_split(
        payloads: list[bytes], junk: bytes, cuts: list[int]) -> None:
    """Whatever TCP does to the stream (any split) and whatever junk precedes it, each framed
    message comes out once, in order; frames over the limit are reported, never kept whole."""
    stream = junk + b"".join(frame(p) for p in payloads)
    reader = FrameReader(max_message_bytes=200)
    events: list[tuple[str, bytes]] = []
    start = 0
    for cut in sorted({c % (len(stream) + 1) for c in cuts}) + [len(stream)]:
        events += reader.feed(stream[start:cut])
        start = cut
    got = [(kind, body) for kind, body in events if kind != "garbage"]
    assert [k for k, _ in got] == ["message" if len(p) <= 200 else "oversize" for p in payloads]
    assert [b for k, b in got if k == "message"] == [p for p in payloads if len(p) <= 200]
    assert len(reader._buffer) <= 201  # an oversize frame is dropped as it streams in
