"""Transcodings for every non-default type carried by events."""

from __future__ import annotations

import base64
import dataclasses
import json
import zlib
from datetime import date
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from event_store.compression import DEFLATE_FROM
from hub.values import VALUE_TYPES


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class BytesAsBase64(Transcoding):
    """How bytes were stored until 2026-11 (events written then still read this way)."""

    type = bytes
    name = "bytes_b64"

    def encode(self, obj: bytes) -> str:
        return base64.b64encode(obj).decode("ascii")

    def decode(self, data: str) -> bytes:
        return base64.b64decode(data)


class BytesPacked(Transcoding):
    """Bytes as text: "b" and their base64, or, from `DEFLATE_FROM` bytes on, "z" and the
    base64 of their zlib deflation.

    The bytes events hold are raw inbound messages, kept for good: a FHIR Bundle of 165 KB
    deflates to a twentieth (HL7 and FHIR text repeat themselves), which is less to encrypt,
    to write and to keep; deflating it costs less than the database took to write the rest.
    Messages below the size PostgreSQL moves out of line stay as they are."""

    type = bytes
    name = "bytes"

    def encode(self, obj: bytes) -> str:
        if len(obj) >= DEFLATE_FROM:
            return "z" + base64.b64encode(zlib.compress(obj, 1)).decode("ascii")
        return "b" + base64.b64encode(obj).decode("ascii")

    def decode(self, data: str) -> bytes:
        packed = base64.b64decode(data[1:])
        return zlib.decompress(packed) if data[0] == "z" else packed


class ValueObjectAsDict(Transcoding):
    """A frozen dataclass from `hub.values.VALUE_TYPES`, stored as its fields."""

    def __init__(self, cls: type[Any]):
        self.type = cls
        self.name = cls.__name__
        self.field_names = tuple(f.name for f in dataclasses.fields(cls))
        self.fields = frozenset(self.field_names)
        # Every stored event is decoded by the projection, many value objects each: when the
        # stored fields are exactly the class's, the object's fields are filled in directly
        # (what a frozen dataclass's __init__ does, one object.__setattr__ at a time).
        self.direct = not hasattr(cls, "__post_init__") and not hasattr(cls, "__slots__")

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self.field_names}

    def decode(self, data: dict[str, Any]) -> Any:
        # JSON has no tuples; value objects only ever hold tuples, never lists.
        if self.direct and data.keys() == self.fields:
            obj = object.__new__(self.type)
            fields = obj.__dict__
            for name in self.field_names:
                value = data[name]
                fields[name] = tuple(value) if type(value) is list else value
            return obj
        return self.type(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class HubTranscoder(JSONTranscoder):
    """eventsourcing's JSON transcoder, writing the same bytes, cheaper for value objects.

    Every fact of every message is a tree of value objects, each handed to the encoder's
    `default` hook. A dataclass's __init__ sets every field in declaration order, so an
    instance whose __dict__ holds as many entries as the class has fields holds exactly its
    fields, in order: that dict goes to the encoder as it is, with no call into the
    transcoding. Value objects are immutable trees, so the encoder need not look for cycles.
    (Chosen by `TRANSCODER_TOPIC`, see event_store/persistence.py.)"""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = json.JSONEncoder(default=self._encode_obj, separators=(",", ":"),
                                        ensure_ascii=False, check_circular=False)
        self._plain: dict[type[Any], tuple[str, int]] = {}

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        if isinstance(transcoding, ValueObjectAsDict) and transcoding.direct:
            self._plain[transcoding.type] = (transcoding.name, len(transcoding.field_names))
        else:
            self._plain.pop(transcoding.type, None)

    def _encode_obj(self, o: Any) -> dict[str, Any]:
        plain = self._plain.get(type(o))
        if plain is not None:
            held = o.__dict__
            if len(held) == plain[1]:
                return {"_type_": plain[0], "_data_": held}
        return super()._encode_obj(o)


def register_all(transcoder: JSONTranscoder) -> None:
    transcoder.register(DateAsISO())
    transcoder.register(BytesAsBase64())  # reads bytes written before BytesPacked
    transcoder.register(BytesPacked())  # registered last: writes bytes from now on
    for cls in VALUE_TYPES.values():
        transcoder.register(ValueObjectAsDict(cls))
