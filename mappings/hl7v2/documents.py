"""MDM^T01/T02/T05/T06/T09/T10 → a `ClinicalDocument` fact (discharge summaries, reports).

The document's text is the OBX-5 values (TX/ST/FT lines); TXA holds its metadata. A notification
without content (T01, T05, T09) is still recorded with its metadata, so the profile lists it.
"""

from __future__ import annotations

from datetime import tzinfo

from hub.application import MappedMessage
from hub.facts import ClinicalDocument, DatedFact
from hub.values import Problem
from mappings.errors import MappingError
from mappings.hl7v2 import datatypes
from mappings.hl7v2.adt import (
    _coding,
    begin,
    finish,
    location,
    subject_of,
    visit_facts,
)
from mappings.hl7v2.er7 import Er7Message

# HL7 table 0271 (document completion status) → FHIR composition/document status.
COMPLETION_STATUS = {"AU": "final", "LA": "final", "DO": "final", "IP": "preliminary",
                     "IN": "preliminary", "PA": "preliminary", "DI": "preliminary"}


def document_text(message: Er7Message) -> tuple[str, str]:
    """The text and content type the OBX segments carry."""
    lines: list[str] = []
    content_type = "text/plain"
    for obx in message.all("OBX"):
        value_type = message.get(obx, 2).upper()
        for rep in message.repetitions(obx, 5):
            if value_type == "ED":
                content_type = "/".join(p for p in (message.part(rep, 2),
                                                   message.part(rep, 3)) if p) or content_type
                lines.append(message.part(rep, 5))
            elif value_type in ("TX", "ST", "FT", "") or not value_type:
                lines.append(message.part(rep))
    return "\n".join(line for line in lines if line), content_type


def mapped_message_from_mdm(message: Er7Message, local_zone: tzinfo) -> MappedMessage:
    """One document (TXA + OBX) about one elder, at its activity time (TXA-4, else TXA-6)."""
    reader, organisation, pid, occurred_at = begin(message, local_zone)
    facts = visit_facts(message, reader, "", occurred_at)
    txa = message.first("TXA")
    if txa is None:
        raise MappingError(Problem("segment-missing", "MDM message has no TXA segment", "TXA"))
    g = message.get
    text, content_type = document_text(message)
    document_type = _coding(message, txa, 2)
    author = (datatypes.person_name(g(txa, 9, 2), g(txa, 9, 3)) or g(txa, 9, 1)
              or datatypes.person_name(g(txa, 5, 2), g(txa, 5, 3)) or g(txa, 5, 1))
    title = (document_type.display if document_type and document_type.display else
             g(message.first("OBR"), 4, 2) if message.first("OBR") else "")
    document = ClinicalDocument(
        document_id=g(txa, 12, 1) or g(txa, 16, 1),
        document_type=document_type,
        title=title or (document_type.code if document_type else ""),
        text=text,
        content_type=content_type,
        status=COMPLETION_STATUS.get(g(txa, 17).upper(), "final"),
        author=author,
    )
    if not document.document_id:
        reader.problems.append(Problem("required-field-missing",
                                       "TXA-12 unique document number is empty",
                                       location(txa, message, 12), severity="warning"))
    when = reader.timestamp(txa, 4) or reader.timestamp(txa, 6) or occurred_at
    facts.append(DatedFact(document, when))
    subject, warnings = subject_of(message, pid, organisation, reader, facts, occurred_at)
    return finish(reader, organisation, [subject], warnings)
