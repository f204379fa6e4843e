"""The HL7 v2 sample corpus, read in place (never copied into the repository)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import CORPUS

CONVERTER = CORPUS / "microsoft-FHIR-Converter"
HL7_DIR = CONVERTER / "data" / "SampleData" / "Hl7v2"


@dataclass(frozen=True)
class Pair:
    """A corpus message and, when the converter project has one, its expected FHIR bundle."""

    name: str
    raw: bytes
    expected: Path | None


def corpus_messages() -> list[tuple[str, bytes]]:
    """Every converter sample message as bytes, by file name."""
    return [(p.name, p.read_bytes()) for p in sorted(HL7_DIR.glob("*.hl7"))]


def pairs() -> list[Pair]:
    expected: dict[str, Path] = {}
    with (CONVERTER / "PAIRS.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            expected[Path(row["input"]).name] = CONVERTER / row["expected_output"]
    return [Pair(name, raw, expected.get(name)) for name, raw in corpus_messages()]


def message_type(raw: bytes) -> tuple[str, str]:
    """MSH-9.1 and MSH-9.2 read plainly (the trigger decides; MSH-9.3 is often mislabelled)."""
    text = raw.decode("utf-8-sig", "replace").lstrip()
    msh = text.replace("\r\n", "\r").replace("\n", "\r").split("\r", 1)[0]
    parts = msh.split(msh[3])[8].split("^")
    return parts[0].upper(), (parts[1] if len(parts) > 1 else "").upper()


def files_exist() -> bool:
    return Path(HL7_DIR).is_dir()
