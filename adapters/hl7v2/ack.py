"""HL7 ACKs built with hl7apy: MSA with AA/AE/AR and an ERR segment per problem.

ERR names segment, occurrence and field (ERR-2 in v2.5+, ERR-1 before) with the HL7 table 0357
error code, severity and a message for people.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from uuid import uuid4

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message

from hub.values import Problem

SUPPORTED_VERSIONS = ("2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1",
                      "2.8", "2.8.1", "2.8.2")

# Problem codes → HL7 table 0357 (message error condition codes).
ERROR_CODES = {
    "segment-missing": ("100", "Segment sequence error"),
    "required-field-missing": ("101", "Required field missing"),
    "no-linkable-identifier": ("101", "Required field missing"),
    "bad-data-type": ("102", "Data type error"),
    "table-value-not-found": ("103", "Table value not found"),
    "unsupported-message-type": ("200", "Unsupported message type"),
    "unsupported-event-code": ("201", "Unsupported event code"),
    "unsupported-version": ("203", "Unsupported version id"),
    "control-id-reused": ("205", "Duplicate key identifier"),
    "identifier-invalid": ("102", "Data type error"),
    "unknown-sender": ("207", "Application internal error: unknown sender"),
}
_LOCATION = re.compile(r"^(?P<seg>[A-Z][A-Z0-9]{2})(?:\[(?P<seq>\d+)\])?(?:-(?P<field>\d+))?"
                       r"(?:\.(?P<comp>\d+))?")


def escape(text: str) -> str:
    """Escape component, repetition and subcomponent characters (hl7apy escapes only `|`)."""
    return (text.replace("\\", "\\E\\").replace("^", "\\S\\").replace("&", "\\T\\")
            .replace("~", "\\R\\").replace("\r", " ").replace("\n", " "))


_TEMPLATE_TIME = "19000101000000"
_TEMPLATE_ID = "YYHUBTEMPLATEID"
_TEMPLATE_CONTROL = "YYHUBTEMPLATECONTROL"


def build_ack(code: str, *, control_id: str, version: str, sending_application: str = "",
              sending_facility: str = "", trigger: str = "", charset: str = "",
              problems: tuple[Problem, ...] = ()) -> str:
    """An ACK answering the message with MSH-10 `control_id`, in its version when supported.

    hl7apy takes ~15 ms to build one, more than the rest of ingest, so an ACK without problems
    is built by hl7apy once per sender and shape and then only its time and ids are filled in.
    """
    if problems:
        return _build(code, control_id, version, sending_application, sending_facility,
                      trigger, charset, problems, uuid4().hex[:20])
    template = _template(code, version, sending_application, sending_facility, trigger,
                         charset)
    return (template.replace(_TEMPLATE_TIME, datetime.now().strftime("%Y%m%d%H%M%S"), 1)
            .replace(_TEMPLATE_ID, uuid4().hex[:20], 1)
            .replace(_TEMPLATE_CONTROL, escape(control_id).replace("|", "\\F\\"), 1))


@lru_cache(maxsize=1024)
def _template(code: str, version: str, sending_application: str, sending_facility: str,
              trigger: str, charset: str) -> str:
    return _build(code, _TEMPLATE_CONTROL, version, sending_application, sending_facility,
                  trigger, charset, (), _TEMPLATE_ID, _TEMPLATE_TIME)


def _build(code: str, control_id: str, version: str, sending_application: str,
           sending_facility: str, trigger: str, charset: str, problems: tuple[Problem, ...],
           ack_id: str, when: str | None = None) -> str:
    version = version if version in SUPPORTED_VERSIONS else "2.5"
    ack = Message("ACK", version=version, validation_level=VALIDATION_LEVEL.TOLERANT)
    ack.msh.msh_3 = "YYHUB"
    ack.msh.msh_4 = "YIYANG-HUB"
    if sending_application:
        ack.msh.msh_5 = escape(sending_application)
    if sending_facility:
        ack.msh.msh_6 = escape(sending_facility)
    ack.msh.msh_7 = when or datetime.now().strftime("%Y%m%d%H%M%S")
    ack.msh.msh_9 = f"ACK^{trigger}^ACK" if trigger and version >= "2.3.1" else "ACK"
    ack.msh.msh_10 = ack_id
    ack.msh.msh_11 = "P"
    if charset:
        ack.msh.msh_18 = charset
    ack.msa.msa_1 = code
    ack.msa.msa_2 = escape(control_id)
    if version < "2.4" and problems:
        ack.msa.msa_3 = escape(problems[0].message[:80])
    for problem in problems:
        _add_err(ack, problem, version)
    return ack.to_er7()


def encode_ack(text: str) -> bytes:
    """ACK text in the character set it declares (GB18030 senders read GB18030)."""
    return text.encode("gb18030" if "18030" in text[:600] else "utf-8")


def _add_err(ack: Message, problem: Problem, version: str) -> None:
    number, name = ERROR_CODES.get(problem.code, ("207", "Application internal error"))
    match = _LOCATION.match(problem.location or "")
    where = ""
    if match:
        where = "^".join(x or "" for x in (match["seg"], match["seq"] or "1", match["field"],
                                           None, match["comp"])).rstrip("^")
    err = ack.add_segment("ERR")
    if version >= "2.5":
        if where:
            err.err_2 = where
        err.err_3 = f"{number}^{name}^HL70357"
        err.err_4 = "W" if problem.severity == "warning" else "E"
        err.err_8 = escape(f"{problem.code}: {problem.message}")
    else:
        err.err_1 = f"{where}^{number}&{name}&HL70357" if where else f"^^^{number}&{name}&HL70357"
