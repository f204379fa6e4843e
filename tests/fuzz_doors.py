"""Hostile input for every door: hypothesis strategies and the property each door must keep.

The property, for HL7 v2, FHIR and CSV/JSON records alike: whatever arrives, the hub answers
(no exception, no 5xx) and every input it refuses is kept with at least one reason. Inputs are
grown from real messages (mutated: bytes flipped, fields replaced, segments dropped or doubled,
cut short) and from scratch, so both the parsers' edges and the mappings' edges are reached.
Used by the short runs in the test suite and by `bench/fuzz.py` for the long ones.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from adapters.bootstrap import Hub
from hub.inbound import ACCEPTED, DUPLICATE, REJECTED
from mappings.errors import UnreadableMessage
from mappings.records import FIELDS
from tests.care_records import contract, vital_signs
from tests.fault_support import fhir_patient, oru
from tests.messages import adt

SAMPLES = Path(__file__).resolve().parents[1] / "adapters" / "samples"
HL7_SEEDS = [oru(1, prefix="Z"), adt(control_id="Z2").encode(), adt("A08", control_id="Z3").encode(),
             *(p.read_bytes() for p in sorted(SAMPLES.glob("*.hl7")))]
FHIR_SEEDS = [
    json.loads(fhir_patient(1)),
    {"resourceType": "Observation", "status": "final",
     "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
     "subject": {"reference": "Patient/fp1"}, "effectiveDateTime": "2026-03-02T09:00:00+08:00",
     "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org",
                       "code": "/min"}},
    {"resourceType": "Condition", "subject": {"reference": "Patient/fp1"},
     "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]}},
]
RECORD_SEEDS = [vital_signs("R1", "2026-03-01 09:00", 150, 90), contract("R2", "sign")]
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
DELIMITERS = st.sampled_from(["|", "^", "~", "\\", "&", "\r", "\n", "\x0b", "\x1c", "", "MSH|"])


# ----------------------------------------------------------------------------- HL7 v2

@st.composite
def hl7_mutant(draw: st.DrawFn) -> bytes:
    """A real message, then a few structural or byte-level mutations."""
    raw = bytearray(draw(st.sampled_from(HL7_SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["field", "byte", "cut", "segment", "delimiter", "double"]))
        if kind == "field":
            segments = raw.split(b"\r")
            s = draw(st.integers(0, len(segments) - 1))
            fields = segments[s].split(b"|")
            f = draw(st.integers(0, len(fields) - 1))
            fields[f] = draw(TEXT).encode()
            segments[s] = b"|".join(fields)
            raw = bytearray(b"\r".join(segments))
        elif kind == "byte" and raw:
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        elif kind == "cut":
            raw = raw[:draw(st.integers(0, len(raw)))]
        elif kind == "segment":
            segments = raw.split(b"\r")
            del segments[draw(st.integers(0, len(segments) - 1))]
            raw = bytearray(b"\r".join(segments))
        elif kind == "delimiter":
            at = draw(st.integers(0, len(raw)))
            raw[at:at] = draw(DELIMITERS).encode()
        else:
            segments = raw.split(b"\r")
            s = draw(st.integers(0, len(segments) - 1))
            segments.insert(s, segments[s])
            raw = bytearray(b"\r".join(segments))
    return bytes(raw)


@st.composite
def hl7_from_scratch(draw: st.DrawFn) -> bytes:
    """An MSH-led message of random segments and fields."""
    names = st.sampled_from(["MSH", "EVN", "PID", "PV1", "OBR", "OBX", "AL1", "DG1", "TXA",
                             "RF1", "NTE", "ZZZ", "MSA", "pid", ""])
    segments = [draw(names) + "|" + "|".join(draw(st.lists(TEXT, max_size=25)))
                for _ in range(draw(st.integers(0, 8)))]
    msh = "MSH|^~\\&|" + "|".join(draw(st.lists(TEXT, max_size=18)))
    return "\r".join([msh, *segments]).encode("utf-8")


HL7_INPUT = st.one_of(hl7_mutant(), hl7_from_scratch(), st.binary(max_size=600))


def check_hl7(hub: Hub, raw: bytes) -> str:
    """Answered AA/AE/AR; anything but AA names a reason and is kept."""
    answer = hub.hl7.receive(raw, "fuzz")
    assert answer.ack_code in ("AA", "AE", "AR"), answer.ack
    if answer.ack_code != "AA":
        assert answer.receipt.problems, f"refused without a reason: {raw!r}"
        assert "ERR|" in answer.ack
    _assert_kept(hub, answer.receipt.message_id)
    return answer.ack_code


def _assert_kept(hub: Hub, message_id: Any) -> None:
    message = hub.app.repository.get(message_id)
    assert message.outcome in (ACCEPTED, REJECTED, DUPLICATE) or message.outcome, message_id
    if message.outcome == REJECTED:
        assert message.problems, "a rejected message must keep its reasons"


# ----------------------------------------------------------------------------- FHIR

JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      TEXT)
JSON_ANY = st.recursive(JSON_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)), max_leaves=20)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(copy[path[0]], path[1:], new)
    return copy


@st.composite
def fhir_mutant(draw: st.DrawFn) -> dict[str, Any]:
    """A valid resource with some values replaced by random JSON (or keys added)."""
    resource: Any = draw(st.sampled_from(FHIR_SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(resource)[1:]))
        resource = _replace(resource, path, draw(JSON_ANY))
    if draw(st.booleans()):
        resource = {**resource, draw(TEXT): draw(JSON_ANY)}
    return resource  # type: ignore[no-any-return]


@st.composite
def fhir_body(draw: st.DrawFn) -> tuple[str, bytes]:
    """(resource type in the URL, body): mutated resources, Bundles of them, or raw junk."""
    choice = draw(st.integers(0, 4))
    if choice <= 1:
        resource = draw(fhir_mutant())
        kind = resource.get("resourceType") if isinstance(resource.get("resourceType"), str) \
            else "Patient"
        return kind, json.dumps(resource, ensure_ascii=False).encode()
    if choice == 2:
        entries = [{"fullUrl": f"urn:uuid:00000000-0000-0000-0000-00000000000{i}",
                    "resource": draw(fhir_mutant()),
                    "request": {"method": draw(st.sampled_from(["POST", "PUT", "GET", "X"])),
                                "url": draw(st.sampled_from(["Patient", "Observation", ""]))}}
                   for i in range(draw(st.integers(0, 3)))]
        bundle = {"resourceType": "Bundle",
                  "type": draw(st.sampled_from(["transaction", "batch", "collection", "x"])),
                  "entry": entries}
        return "Bundle", json.dumps(bundle, ensure_ascii=False).encode()
    if choice == 3:
        return draw(st.sampled_from(["Patient", "Observation", "Bundle"])), \
            json.dumps(draw(JSON_ANY)).encode()
    return draw(st.sampled_from(["Patient", "Bundle"])), draw(st.binary(max_size=300))


def check_fhir(hub: Hub, kind: str, raw: bytes) -> int:
    """Never 5xx; a refusal is an OperationOutcome with issues and the input is kept."""
    if kind == "Bundle":
        answer = hub.fhir.receive_bundle(raw, "FUZZ")
    else:
        answer = hub.fhir.receive_resource(raw, "FUZZ", kind)
    assert answer.status < 500, answer.body
    if answer.status >= 400:
        assert answer.body.get("resourceType") == "OperationOutcome", answer.body
        assert answer.body.get("issue"), answer.body
        if answer.receipt is not None:
            _assert_kept(hub, answer.receipt.message_id)
    return answer.status


# ----------------------------------------------------------------------------- CSV / JSON

@st.composite
def record_file(draw: st.DrawFn) -> tuple[bytes, str]:
    """(file bytes, content type): records with mutated values, as CSV or JSON, or junk."""
    records = []
    for _ in range(draw(st.integers(1, 3))):
        record = dict(draw(st.sampled_from(RECORD_SEEDS)))
        for key in draw(st.lists(st.sampled_from(sorted(record)), max_size=3)):
            record[key] = draw(st.one_of(TEXT, st.integers(), st.none()))
        if draw(st.booleans()):
            record[draw(TEXT)] = draw(TEXT)
        records.append(record)
    form = draw(st.integers(0, 3))
    if form == 0:
        return _csv(records, chinese=draw(st.booleans())), "text/csv"
    if form == 1:
        return json.dumps(records, ensure_ascii=False).encode(), "application/json"
    if form == 2:
        data = _csv(records, chinese=True)
        return data[:draw(st.integers(0, len(data)))], "text/csv"
    return draw(st.binary(max_size=300)), draw(st.sampled_from(["text/csv", "application/json"]))


def _csv(records: list[dict[str, Any]], chinese: bool) -> bytes:
    """As senders write them, with any odd column the sender added kept as it is."""
    columns = list(dict.fromkeys(k for r in records for k in r))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([FIELDS.get(c, c) if chinese else c for c in columns])
    for r in records:
        writer.writerow([r.get(c, "") for c in columns])
    return out.getvalue().encode("utf-8", "surrogatepass")


def check_records(hub: Hub, data: bytes, content_type: str) -> str:
    """An unreadable file is refused whole with a reason and kept; else every record has an
    outcome and each rejected record is kept with its reasons."""
    try:
        answer = hub.records.receive_file(data, content_type, sender="FUZZ")
    except UnreadableMessage as error:
        assert error.problems and all(p.message for p in error.problems)
        _assert_kept(hub, error.message_id)
        return "unreadable"
    for row in answer.rows:
        assert row.outcome in (ACCEPTED, DUPLICATE, REJECTED)
        if row.outcome == REJECTED:
            assert row.problems
            _assert_kept(hub, row.message_id)
    return "read"
