"""Strict validation: a message checked by hl7apy against its version's standard structure.

The fast reader (er7.py) is lenient on purpose: real senders omit fields the standard calls
required and the hub still takes what they sent. A deployment that wants senders held to the
standard (`YYHUB_HL7_STRICT_VALIDATION=true`, for example while a new interface is being
certified) gets every message also parsed and validated by hl7apy, whose findings refuse the
message with AE and an ERR per finding. It costs hl7apy's ~30 ms a message, so it is off by
default.
"""

from __future__ import annotations

import re
import tempfile

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message

from hub.values import Problem

_FIELD = re.compile(r"\b(?P<seg>[A-Z][A-Z0-9]{2})\.(?P=seg)_(?P<field>\d+)\b")  # "OBR.OBR_4"
_SEGMENT = re.compile(r"\.(?P<seg>[A-Z][A-Z0-9]{2})\b")


def strict_problems(text: str) -> tuple[Problem, ...]:
    """What hl7apy's strict validation finds wrong with a message (empty when nothing)."""
    try:
        message = parse_message(text.replace("\n", "\r"), find_groups=True,
                                validation_level=VALIDATION_LEVEL.STRICT)
    except HL7apyException as error:
        return (_problem(f"{type(error).__name__}: {error}"),)
    # hl7apy raises only the first finding; its report file lists them all.
    with tempfile.NamedTemporaryFile("r", encoding="utf-8", suffix=".txt") as report:
        try:
            message.validate(report_file=report.name)
            return ()
        except HL7apyException as error:
            findings = [line.removeprefix("Error: ") for line in report.read().splitlines()
                        if line.startswith("Error: ")]
            return tuple(_problem(f) for f in findings) or (_problem(str(error)),)


def _problem(finding: str) -> Problem:
    """A finding as a Problem whose location names the segment and field it is about."""
    field = _FIELD.search(finding)
    segment = _SEGMENT.search(finding)
    if finding.startswith("Missing required child"):
        code = "required-field-missing" if field else "segment-missing"
    elif finding.startswith("Datatype"):
        code = "bad-data-type"
    else:
        code = "strict-validation"
    location = (f"{field['seg']}[1]-{field['field']}" if field
                else f"{segment['seg']}" if segment else "")
    return Problem(code, f"strict validation (hl7apy): {finding}", location)
