"""Small frozen value objects carried by events.

Every class here is registered for transcoding (see `VALUE_TYPES`), so events can carry them and
read them back unchanged. Tuples stay tuples after a round trip through the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

VALUE_TYPES: dict[str, type[Any]] = {}


def value_type(cls: type[Any]) -> type[Any]:
    """Register a frozen dataclass as an event payload type under its class name.

    Value objects are immutable (frozen, holding tuples and other values), so copying an
    aggregate shares them instead of copying them: the hub copies aggregates for every message
    it decides (copy on write), and each elder holds its identifiers."""
    VALUE_TYPES[cls.__name__] = cls
    cls.__copy__ = _shared
    cls.__deepcopy__ = _shared
    return cls


def _shared(self: Any, memo: Any = None) -> Any:
    return self


@value_type
@dataclass(frozen=True)
class Identifier:
    """An identifier of a person in one system (身份证, 社保卡, a hospital's MRN ...).

    `linkable` is False when the value failed validation (a wrong 身份证 check digit): it is kept
    on the record but never used to join two records.
    """

    system: str
    value: str
    linkable: bool = True

    @property
    def key(self) -> str:
        return f"{self.system}|{self.value}"


@value_type
@dataclass(frozen=True)
class Source:
    """Where a fact came from: the organisation, the channel, and the inbound message."""

    organisation: str
    channel: str
    message_id: UUID


@value_type
@dataclass(frozen=True)
class Coding:
    """A code in a code system, with the text the sender gave for it."""

    system: str
    code: str
    display: str = ""


@value_type
@dataclass(frozen=True)
class Problem:
    """Why an inbound message, or part of it, was not accepted as sent.

    `location` names the place in the sender's terms: `PID[1]-3.1` for HL7 v2, a FHIRPath for
    FHIR, `row 4, column 身份证号` for files.
    """

    code: str
    message: str
    location: str = ""
    severity: str = "error"  # error | warning

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


_SCALARS = frozenset({str, int, float, bool, type(None)})
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def plain(value: Any) -> Any:
    """Turn a value object (and what it holds) into JSON-ready plain data for read models.

    On the projection's hot path (every fact, twice): scalars return first, and a dataclass's
    field names are looked up once per class."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    names = _FIELD_NAMES.get(kind)
    if names is not None:
        found = {}
        for name in names:  # most fields are scalars: no call for them
            field = getattr(value, name)
            found[name] = field if type(field) in _SCALARS else plain(field)
        return found
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        _FIELD_NAMES[kind] = tuple(value.__dataclass_fields__)
        return plain(value)
    return value


__all__ = [
    "VALUE_TYPES",
    "Coding",
    "Identifier",
    "Problem",
    "Source",
    "plain",
    "value_type",
]
