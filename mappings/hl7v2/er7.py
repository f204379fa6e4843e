"""A small, fast ER7 reader.

hl7apy builds a full object tree (~30 ms a message); ingest needs only the fields the mappings
read, so this reader splits segments and fields lazily and unescapes on access. Its extraction is
checked against hl7apy's, field by field, over the sample corpus (tests/integration).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.values import Problem
from mappings.errors import UnreadableMessage

_SEGMENT_SPLIT = re.compile(r"\r\n|\r|\n")
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")

# MSH-18 character set names (HL7 table 0211 and what Chinese senders write) → Python codecs.
CHARSETS = {
    "": "utf-8", "ASCII": "ascii", "UNICODE UTF-8": "utf-8", "UTF-8": "utf-8", "UTF8": "utf-8",
    "UNICODE": "utf-8", "8859/1": "latin-1", "8859/15": "iso8859-15", "GB 18030-2000": "gb18030",
    "GB18030": "gb18030", "GB 18030": "gb18030", "GBK": "gb18030", "GB2312": "gb18030",
    "CNS 11643-1992": "big5", "BIG-5": "big5",
}


@dataclass(frozen=True)
class Encoding:
    """The separators a message declares in MSH-1 and MSH-2."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"


class Segment:
    """One segment; `field(n)` is SEG-n as sent (still escaped)."""

    __slots__ = ("fields", "id")

    def __init__(self, segment_id: str, fields: list[str]):
        self.id = segment_id
        self.fields = fields

    def field(self, number: int) -> str:
        return self.fields[number] if number < len(self.fields) else ""


class Er7Message:
    """A parsed message: its segments in order and the separators that split them."""

    def __init__(self, segments: list[Segment], encoding: Encoding, charset: str):
        self.segments = segments
        self.encoding = encoding
        self.charset = charset

    def all(self, segment_id: str) -> list[Segment]:
        return [s for s in self.segments if s.id == segment_id]

    def first(self, segment_id: str) -> Segment | None:
        return next((s for s in self.segments if s.id == segment_id), None)

    def repetitions(self, segment: Segment, field: int) -> list[str]:
        raw = segment.field(field)
        if segment.id == "MSH" and field in (1, 2):
            return [raw]
        return raw.split(self.encoding.repetition) if raw else []

    def components(self, repetition: str) -> list[str]:
        return repetition.split(self.encoding.component)

    def get(self, segment: Segment | None, field: int, component: int = 1,
            subcomponent: int = 1, repetition: int = 0) -> str:
        """The unescaped value at SEG-field[rep].component.subcomponent, or "" if absent."""
        if segment is None:
            return ""
        if segment.id == "MSH" and field in (1, 2):
            return segment.field(field)
        reps = self.repetitions(segment, field)
        if repetition >= len(reps):
            return ""
        return self.part(reps[repetition], component, subcomponent)

    def part(self, repetition: str, component: int = 1, subcomponent: int = 1) -> str:
        comps = repetition.split(self.encoding.component)
        if component > len(comps):
            return ""
        subs = comps[component - 1].split(self.encoding.subcomponent)
        if subcomponent > len(subs):
            return ""
        return self.unescape(subs[subcomponent - 1])

    def unescape(self, value: str) -> str:
        esc = self.encoding.escape
        if not esc or esc not in value:
            return value
        out: list[str] = []
        i = 0
        while i < len(value):
            ch = value[i]
            end = value.find(esc, i + 1) if ch == esc else -1
            if end == -1:
                out.append(value[i:] if ch == esc else ch)
                if ch == esc:
                    break
                i += 1
                continue
            out.append(self._escape_sequence(value[i + 1:end], value[i:end + 1]))
            i = end + 1
        return "".join(out)

    def _escape_sequence(self, body: str, original: str) -> str:
        enc = self.encoding
        simple = {"F": enc.field, "S": enc.component, "T": enc.subcomponent,
                  "R": enc.repetition, "E": enc.escape, ".br": "\n", "H": "", "N": ""}
        if body in simple:
            return simple[body]
        if body.startswith("X") and len(body) > 1 and len(body) % 2 == 1:
            try:
                data = bytes.fromhex(body[1:])
            except ValueError:
                return original
            try:
                return data.decode(self.charset)
            except (UnicodeDecodeError, LookupError):
                return data.decode("latin-1")
        return original


def decode(raw: bytes) -> tuple[str, str, tuple[Problem, ...]]:
    """Bytes to text using MSH-18; returns text, the codec used and any warnings.

    Without MSH-18, UTF-8 is tried first and GB18030 second, since Chinese HIS often send GB18030
    without saying so.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    declared = _declared_charset(raw)
    codec = CHARSETS.get(declared.upper().strip())
    if codec is None:
        raise UnreadableMessage(Problem(
            "unsupported-charset", f"unsupported character set {declared!r}", "MSH[1]-18"))
    try:
        return raw.decode(codec), codec, ()
    except UnicodeDecodeError as error:
        if declared:
            raise UnreadableMessage(Problem(
                "wrong-encoding", f"bytes are not valid {declared}: {error.reason} at byte "
                f"{error.start}", "MSH[1]-18")) from error
    try:
        return raw.decode("gb18030"), "gb18030", (Problem(
            "charset-guessed", "no MSH-18 and not UTF-8; read as GB18030", "MSH[1]-18",
            severity="warning"),)
    except UnicodeDecodeError as error:
        raise UnreadableMessage(Problem(
            "wrong-encoding", "bytes are neither UTF-8 nor GB18030", "MSH[1]-18")) from error


def _declared_charset(raw: bytes) -> str:
    head = raw.split(b"\r", 1)[0].split(b"\n", 1)[0]
    if not head.startswith(b"MSH") or len(head) < 4:
        return ""
    fields = head.split(head[3:4])
    if len(fields) <= 17:
        return ""
    return fields[17].split(b"^")[0].split(b"~")[0].decode("ascii", "replace")


def parse(text: str, charset: str = "utf-8") -> Er7Message:
    """Split ER7 text into segments and fields. Raises UnreadableMessage if it is not HL7 v2."""
    text = text.lstrip("\ufeff").strip("\x0b\x1c\r\n ")
    if not text.startswith("MSH"):
        raise UnreadableMessage(Problem("no-msh", "message does not start with MSH", "MSH"))
    if len(text) < 8:
        raise UnreadableMessage(Problem("misses-separators", "MSH misses separators", "MSH[1]-2"))
    field_sep = text[3]
    encoding_field = text[4:].split(field_sep, 1)[0]
    encoding = _encoding(field_sep, encoding_field)
    segments: list[Segment] = []
    for line in _SEGMENT_SPLIT.split(text):
        line = line.rstrip(" \t")  # trailing blanks carry nothing (hl7apy drops them too)
        if not line:
            continue
        if line.startswith("MSH"):
            # MSH-1 is the field separator itself: keep numbering equal to the standard's.
            fields = ["MSH", field_sep, *line[4:].split(field_sep)]
        else:
            fields = line.split(field_sep)
        segment_id = fields[0]
        if not _SEGMENT_ID.match(segment_id):
            raise UnreadableMessage(Problem(
                "bad-segment", f"not a segment: {line[:20]!r}", f"segment {len(segments) + 1}"))
        segments.append(Segment(segment_id, fields))
    return Er7Message(segments, encoding, charset)


def _encoding(field_sep: str, chars: str) -> Encoding:
    problem = None
    if field_sep.isalnum() or field_sep in " \r\n":
        problem = "invalid field separator"
    elif len(chars) < 4 or len(chars) > 5:
        problem = "MSH-2 must hold 4 (or 5) encoding characters"
    elif len(set(chars + field_sep)) != len(chars) + 1:
        problem = "encoding characters repeat"
    if problem:
        raise UnreadableMessage(Problem("invalid-encoding-characters", problem, "MSH[1]-2"))
    return Encoding(field_sep, chars[0], chars[1], chars[2], chars[3])


def read(raw: bytes) -> tuple[Er7Message, tuple[Problem, ...]]:
    """Decode and parse raw bytes as one message."""
    text, codec, warnings = decode(raw)
    return parse(text, codec), warnings
