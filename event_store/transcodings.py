"""Transcodings for every non-default type carried by events."""

from __future__ import annotations

import base64
import dataclasses
from datetime import date
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from hub.values import VALUE_TYPES


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class BytesAsBase64(Transcoding):
    type = bytes
    name = "bytes_b64"

    def encode(self, obj: bytes) -> str:
        return base64.b64encode(obj).decode("ascii")

    def decode(self, data: str) -> bytes:
        return base64.b64decode(data)


class ValueObjectAsDict(Transcoding):
    """A frozen dataclass from `hub.values.VALUE_TYPES`, stored as its fields."""

    def __init__(self, cls: type[Any]):
        self.type = cls
        self.name = cls.__name__
        self.field_names = tuple(f.name for f in dataclasses.fields(cls))

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self.field_names}

    def decode(self, data: dict[str, Any]) -> Any:
        # JSON has no tuples; value objects only ever hold tuples, never lists.
        return self.type(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def register_all(transcoder: JSONTranscoder) -> None:
    transcoder.register(DateAsISO())
    transcoder.register(BytesAsBase64())
    for cls in VALUE_TYPES.values():
        transcoder.register(ValueObjectAsDict(cls))
