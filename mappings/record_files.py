"""Reading a CSV or JSON file of records into rows, before anything is written.

A file that cannot be read as a whole (empty, truncated, not UTF-8 or GB18030, a header naming no
documented column) raises UnreadableMessage with one clear reason; nothing is then recorded.
Rows are numbered as a spreadsheet shows them: the header is row 1, the first record row 2.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.values import Problem
from mappings.errors import UnreadableMessage
from mappings.limits import json_depth_exceeds, too_deep_message
from mappings.records import COMMON, FIELDS, known_column

UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Row:
    """One record of a file: its number, its fields, its raw text (kept if it is rejected)."""

    number: int
    record: dict[str, Any]
    raw: bytes
    where: Callable[[str], str]


def unreadable(message: str) -> UnreadableMessage:
    return UnreadableMessage(Problem("unreadable-file", message, "file"))


def decode(data: bytes, charset: str | None = None) -> str:
    """UTF-8 (with or without BOM) or GB18030; a declared charset is trusted, not guessed."""
    if not data.strip():
        raise unreadable("the file is empty")
    if data.startswith(UTF8_BOM):
        data, charset = data[len(UTF8_BOM):], "utf-8"
    candidates = [charset] if charset else ["utf-8", "gb18030"]
    for encoding in candidates:
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    raise unreadable(f"the file is not valid {' or '.join(c.upper() for c in candidates)} text; "
                     "send it as UTF-8 or GB18030 and say which in the content type")


def file_kind(content_type: str = "", filename: str = "") -> str:
    """csv or json, from the content type or else the file name."""
    media = content_type.split(";")[0].strip().lower()
    if media in ("text/csv", "application/csv") or filename.lower().endswith(".csv"):
        return "csv"
    if media.endswith("json") or filename.lower().endswith(".json"):
        return "json"
    raise unreadable(f"send CSV (text/csv) or JSON (application/json), not {media or filename!r}")


def charset_of(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def read_rows(data: bytes, content_type: str = "", filename: str = "") -> list[Row]:
    """Every record of a CSV or JSON file, or UnreadableMessage saying why there are none."""
    kind = file_kind(content_type, filename)
    text = decode(data, charset_of(content_type))
    return read_csv(text) if kind == "csv" else read_json(text)


def read_csv(text: str) -> list[Row]:
    lines = text.splitlines()
    try:
        table = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error as error:
        raise unreadable(f"the CSV ends inside a quoted field ({error}): the file looks "
                         "truncated") from error
    table = [row for row in table if any(cell.strip() for cell in row)]
    if not table:
        raise unreadable("the file is empty")
    header = [cell.strip() for cell in table[0]]
    missing = [f"{name} ({FIELDS[name]})" for name in COMMON
               if name not in header and FIELDS[name] not in header]
    if not any(known_column(h) for h in header) or missing:
        raise unreadable("the header row lacks the documented columns "
                         f"{', '.join(missing) or ', '.join(COMMON)}: is it the header, and is "
                         "the file in the encoding it declares?")
    if len(table) == 1:
        raise unreadable("the file has a header but no records")
    if not text.endswith(("\n", "\r")) and len(table[-1]) < len(header):
        raise unreadable(f"the last row (row {len(table)}) stops after {len(table[-1])} of "
                         f"{len(header)} columns: the file looks truncated")
    head = lines[0] if lines else ""
    rows = []
    for number, cells in enumerate(table[1:], start=2):
        record = dict(zip(header, cells, strict=False))
        if len(cells) != len(header):
            record["__columns__"] = f"{len(cells)} of {len(header)}"
        raw = f"{head}\n{_csv_line(cells)}".encode()
        rows.append(Row(number, record, raw,
                        lambda field, n=number, h=header: _csv_where(n, field, h)))
    return rows


def _csv_line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


def _csv_where(number: int, field: str, header: list[str]) -> str:
    """`row 5, column 收缩压`: the column as the sender's header names it."""
    chinese = FIELDS.get(field, field)
    column = chinese if chinese in header else field
    return f"row {number}, column {column}"


def read_json(text: str) -> list[Row]:
    if json_depth_exceeds(text):
        raise unreadable(too_deep_message())
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise unreadable(f"the JSON is not complete or not valid (line {error.lineno}, column "
                         f"{error.colno}: {error.msg}); the file may be truncated") from error
    records = json_records(data)
    return [Row(i, record, json.dumps(record, ensure_ascii=False).encode(),
                lambda field, n=i, r=record: f"record {n}, field {_json_key(field, r)}")
            for i, record in enumerate(records, start=1)]


def _json_key(field: str, record: dict[str, Any]) -> str:
    """The key as the sender wrote it (Chinese or English)."""
    chinese = FIELDS.get(field, field)
    return chinese if chinese in record else field


def json_records(data: Any) -> list[dict[str, Any]]:
    """A record, a list of records, or {"records": [...]}; anything else is unreadable."""
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        data = data["records"]
    elif isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise unreadable("expected a JSON record, a list of records or {\"records\": [...]}, "
                         "with at least one record")
    if not all(isinstance(r, dict) for r in data):
        raise unreadable("every record must be a JSON object")
    return data
