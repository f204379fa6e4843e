"""The fast ER7 reader extracts exactly what hl7apy extracts, field by field, on the corpus.

hl7apy (tolerant, no groups) builds the full tree; the fast reader splits only on demand. For every
corpus message and every field the mappings read, both must give the same text at every
repetition, component and subcomponent. hl7apy keeps escape sequences as sent in its values, so
the comparison is on the escaped text; unescaping is checked in the unit tests of the reader.
"""

from __future__ import annotations

from typing import Any

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message

from mappings.hl7v2 import er7
from tests.corpus import corpus_messages

# The fields the mappings read (mappings/hl7v2/*.py), per segment.
FIELDS_READ: dict[str, tuple[int, ...]] = {
    "MSH": (3, 4, 7, 9, 10, 12, 18),
    "EVN": (2, 6),
    "PID": (2, 3, 4, 5, 7, 8, 11, 13, 16, 19, 22, 29),
    "NK1": (2, 3, 4, 5),
    "PV1": (2, 3, 7, 10, 19, 44, 45),
    "AL1": (2, 3, 4, 5, 6),
    "DG1": (3, 4, 5, 6),
    "PR1": (3, 4, 5, 11, 19),
    "OBR": (2, 3, 4, 7),
    "OBX": (2, 3, 4, 5, 6, 7, 8, 11, 14),
    "NTE": (3,),
    "TXA": (2, 4, 5, 6, 9, 12, 16, 17),
    "RF1": (1, 2, 3, 6, 7, 10, 11),
    "PRD": (1, 2, 4),
}
# hl7apy cannot parse these: they carry PRT, a segment v2.7 introduced, under MSH-12 = 2.5.1,
# and hl7apy (even tolerant) refuses a segment its declared version does not define.
HL7APY_CANNOT_PARSE = {
    "MDHHS-OML-O21-1.hl7": "PRT segment under v2.5.1",
    "MDHHS-OML-O21-2.hl7": "PRT segment under v2.5.1",
    "ORU-R01-01.hl7": "PRT segment under v2.5.1",
}


def _text(element: Any) -> str:
    value = element.value
    if isinstance(value, str):
        return value
    if hasattr(value, "to_er7"):  # a base data type object (dates keep their ER7 form)
        return str(value.to_er7())
    return "" if value is None else str(value)


def _position(name: str | None) -> int | None:
    """CX_4 → 4; a simple type's only child (ST, DTM, ...) → 1; unnamed → None."""
    if not name:
        return None
    if "_" not in name:
        return 1
    tail = name.rsplit("_", 1)[1]
    return int(tail) if tail.isdigit() else None


def _hl7apy_parts(field: Any) -> tuple[dict[tuple[int, int], str], list[str]]:
    """(component, subcomponent) → text for one repetition of a field in hl7apy's tree, and
    the texts of components hl7apy could not place (beyond the version's data type)."""
    names = [c.name for c in field.children]
    named = [n for n in names if n]
    if len(named) > 1 and len(set(named)) < len(named):
        # withdrawn (WD) fields: every component has the same name; the order is the position
        return _split_parts(field.to_er7()), []
    parts: dict[tuple[int, int], str] = {}
    unplaced: list[str] = []
    for component in field.children:
        c = _position(component.name)
        if c is None or (len(names) > 1 and "_" not in (component.name or "")):
            unplaced += [t for t in component.to_er7().split("&") if t]
            continue
        subs = getattr(component, "children", [])
        named = [(_position(sub.name), sub) for sub in subs]
        if subs and all(p and "_" in (sub.name or "") for p, sub in named):
            for position, sub in named:
                parts[(c, position or 1)] = _text(sub)
        else:
            for position, text in enumerate(_text(component).split("&"), start=1):
                parts[(c, position)] = text
    return {k: v for k, v in parts.items() if v}, unplaced


def _split_parts(raw_repetition: str, component_sep: str = "^", sub_sep: str = "&"
                 ) -> dict[tuple[int, int], str]:
    parts = {}
    for c, component in enumerate(raw_repetition.split(component_sep), start=1):
        for s, sub in enumerate(component.split(sub_sep), start=1):
            if sub:
                parts[(c, s)] = sub
    return parts


def _er7_parts(message: er7.Er7Message, raw_repetition: str) -> dict[tuple[int, int], str]:
    return _split_parts(raw_repetition, message.encoding.component,
                        message.encoding.subcomponent)


def _fields_by_number(segment: Any, number: int) -> list[Any]:
    return [f for f in segment.children if f.name == f"{segment.name}_{number}"]


def test_corpus_has_the_messages_hl7apy_is_known_to_fail_on() -> None:
    names = {name for name, _ in corpus_messages()}
    assert set(HL7APY_CANNOT_PARSE) <= names


@pytest.mark.parametrize(("name", "raw"), corpus_messages(), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_fast_reader_extracts_what_hl7apy_extracts(name: str, raw: bytes) -> None:
    message, _ = er7.read(raw)
    text = raw.decode(message.charset).lstrip("\ufeff")
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    try:
        tree = parse_message(text, validation_level=VALIDATION_LEVEL.TOLERANT,
                             find_groups=False)
    except HL7apyException as error:
        assert name in HL7APY_CANNOT_PARSE, f"hl7apy failed unexpectedly: {error}"
        return
    assert name not in HL7APY_CANNOT_PARSE, "hl7apy parses it now: drop the exception"
    theirs = [s for s in tree.children]
    assert [s.name for s in theirs] == [s.id for s in message.segments]
    compared = 0
    for ours, their in zip(message.segments, theirs, strict=True):
        for number in FIELDS_READ.get(ours.id, ()):
            our_reps = message.repetitions(ours, number)
            if ours.id == "MSH" and number in (1, 2):
                continue
            their_reps = _fields_by_number(their, number)
            unnamed = {f.to_er7() for f in their.children if f.name is None}
            if not their_reps and unnamed and our_reps:
                # a field the message's version no longer defines (AL1-6 in v2.8): hl7apy
                # keeps it unnamed, so only its text can be compared
                assert message.segments and ours.field(number) in unnamed, (ours.id, number)
                compared += 1
                continue
            assert len([r for r in our_reps if r]) == len(their_reps), (ours.id, number)
            non_empty = [r for r in our_reps if r]
            for our_rep, their_rep in zip(non_empty, their_reps, strict=True):
                mine = _er7_parts(message, our_rep)
                theirs_placed, unplaced = _hl7apy_parts(their_rep)
                where = f"{name} {ours.id}-{number}"
                for key, value in theirs_placed.items():
                    assert mine.get(key) == value, (where, key)
                extra = sorted(v for k, v in mine.items() if k not in theirs_placed)
                assert extra == sorted(unplaced), (where, extra, unplaced)
                compared += 1
    assert compared > 0
