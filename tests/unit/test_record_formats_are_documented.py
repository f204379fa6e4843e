"""The documented formats and the code agree: every column is in the schema and the docs."""

from __future__ import annotations

import json
from pathlib import Path

from mappings.record_files import read_rows
from mappings.records import FIELDS, RECORD_TYPES, known_column

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_column_the_mapping_reads_is_in_the_schema_and_the_docs() -> None:
    schema = json.loads((DOCS / "schemas" / "record.schema.json").read_text("utf-8"))
    page = (DOCS / "records.md").read_text("utf-8")
    assert set(schema["properties"]) == set(FIELDS)
    for english, chinese in FIELDS.items():
        assert f"| `{english}` | {chinese} |" in page
    assert set(schema["properties"]["record_type"]["enum"]) >= set(RECORD_TYPES)


def test_sample_files_use_only_documented_columns() -> None:
    for sample in (DOCS / "samples").iterdir():
        for row in read_rows(sample.read_bytes(), filename=sample.name):
            assert all(known_column(column) for column in row.record), sample.name
