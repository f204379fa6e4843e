"""FHIR test helpers: corpus examples read in place, and the real server on a free port."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapters.api.background import serving as running_server
from tests.conftest import CORPUS

R4_EXAMPLES = (CORPUS / "google-fhir_hl7.fhir.r4.examples-4.0.1" / "spec"
               / "hl7.fhir.r4.examples" / "4.0.1" / "package")
US_CORE_EXAMPLES = CORPUS / "HL7-US-Core" / "input" / "examples"
RESIDENT_ID = "urn:oid:2.16.156.10011.1.3"


def example(name: str) -> dict[str, Any]:
    """An official R4 example by file name (`Patient-ch-example.json`)."""
    path = R4_EXAMPLES / name if (R4_EXAMPLES / name).exists() else US_CORE_EXAMPLES / name
    return json.loads(path.read_text("utf-8"))  # type: ignore[no-any-return]


def corpus_files() -> list[Path]:
    return sorted([*R4_EXAMPLES.glob("*.json"), *US_CORE_EXAMPLES.glob("*.json")])


__all__ = ["R4_EXAMPLES", "RESIDENT_ID", "US_CORE_EXAMPLES", "corpus_files", "example",
           "running_server"]
