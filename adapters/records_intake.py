"""Family-doctor and care-home records in: one InboundMessage per record, keyed by its natural key.

A file is read whole before anything is written, so an unreadable file changes nothing. Then each
record is mapped and received on its own: good records are kept with their facts, bad ones are
kept as rejected messages (with their raw row) for correction, and a resent record finds its first
record and adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from hub.application import HubApplication, Receipt
from hub.elder import recorded_facts
from hub.facts import Incident
from hub.identity import IdentifierIndex
from hub.inbound import ACCEPTED, DUPLICATE, REJECTED, Envelope
from hub.values import Problem
from mappings import identifiers
from mappings.assessment import GBT_42195, count_risk_events
from mappings.errors import MappingError, UnreadableMessage
from mappings.record_files import Row, read_rows
from mappings.records import (
    RECORD_TYPES,
    english_keys,
    parse_instant,
    record_from,
    record_type,
)

log = logging.getLogger("yyhub.records")

CONFLICT_CODES = {"contract-conflict"}


@dataclass(frozen=True)
class RowOutcome:
    """What became of one record: accepted, duplicate (nothing new) or rejected with reasons."""

    row: int
    record_id: str
    outcome: str
    problems: tuple[Problem, ...]
    message_id: UUID
    elder_ids: tuple[UUID, ...] = ()

    @property
    def conflict(self) -> bool:
        return any(p.code in CONFLICT_CODES for p in self.problems)


@dataclass
class IntakeAnswer:
    """Per-record outcomes of one request or file, and the log position to wait for."""

    rows: list[RowOutcome] = field(default_factory=list)
    position: int = 0

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.outcome == outcome)

    @property
    def rejected(self) -> list[RowOutcome]:
        return [r for r in self.rows if r.outcome == REJECTED]

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.count(ACCEPTED), "duplicates": self.count(DUPLICATE),
            "rejected": [{"row": r.row, "record_id": r.record_id, "message_id": str(r.message_id),
                          "problems": [_problem(p) for p in r.problems]}
                         for r in self.rejected],
            "position": self.position,
            "records": [{"row": r.row, "record_id": r.record_id, "outcome": r.outcome,
                         "message_id": str(r.message_id),
                         "elder_ids": [str(e) for e in r.elder_ids],
                         "warnings": [_problem(p) for p in r.problems if not p.is_error]}
                        for r in self.rows],
        }


def _problem(problem: Problem) -> dict[str, str]:
    return {"code": problem.code, "location": problem.location, "reason": problem.message}


class RecordIntake:
    """Receives contract, follow-up and care-home records from files and JSON requests."""

    def __init__(self, app: HubApplication, local_zone: tzinfo,
                 record: Callable[..., Receipt] | None = None):
        self.app = app
        self.local_zone = local_zone
        self._record = record or app.receive

    def receive_file(self, data: bytes, content_type: str = "", filename: str = "",
                     transport: str = "file",
                     progress: Callable[[int, int], None] | None = None,
                     allowed_organisations: set[str] | None = None,
                     sender: str = "unknown") -> IntakeAnswer:
        """Raises UnreadableMessage when the file cannot be read as a whole: the file is then
        kept as one rejected message from `sender`, with the reason, and yields no facts."""
        try:
            rows = read_rows(data, content_type, filename)
        except UnreadableMessage as error:
            self.keep_unreadable(data, sender, transport, error)
            raise
        return self.receive_rows(rows, transport, progress, allowed_organisations)

    def keep_unreadable(self, data: bytes, sender: str, transport: str,
                        error: UnreadableMessage) -> Receipt:
        """Keep a file or body that could not be read at all, as rejected with its reasons
        (a resend of the same bytes is recognised); `error.message_id` names it."""
        envelope = Envelope(sender=sender, channel=f"records:{transport}", raw=data,
                            received_at=datetime.now(UTC), message_type="record^unreadable",
                            control_id="")
        receipt = self._record(envelope, None, error.problems)
        error.message_id, error.position = receipt.message_id, receipt.position
        return receipt

    def receive_rows(self, rows: Iterable[Row], transport: str,
                     progress: Callable[[int, int], None] | None = None,
                     allowed_organisations: set[str] | None = None) -> IntakeAnswer:
        """`allowed_organisations`: the codes the sender may write for (None: any)."""
        answer = IntakeAnswer()
        rows = list(rows)
        for done, row in enumerate(rows, start=1):
            outcome, position = self._receive_row(row, transport, allowed_organisations)
            answer.rows.append(outcome)
            answer.position = max(answer.position, position or 0)
            if progress:
                progress(done, len(rows))
        return answer

    def _receive_row(self, row: Row, transport: str,
                     allowed: set[str] | None = None) -> tuple[RowOutcome, int | None]:
        values = english_keys(row.record)
        organisation = str(values.get("organisation") or "").strip() or "unknown"
        record_id = str(values.get("record_id") or "").strip()
        type_name = record_type(str(values.get("record_type") or ""))
        problems: tuple[Problem, ...] = ()
        mapped = None
        if allowed is not None and organisation not in allowed:
            # Kept under a sender of its own, so it never occupies the named organisation's key.
            problems = (Problem("organisation-not-yours", f"this key may not send records for "
                                f"organisation {organisation!r}", row.where("organisation")),)
            organisation = f"refused:{organisation}"
        elif "__columns__" in row.record:
            problems = (Problem("column-count", f"the row has {row.record['__columns__']} "
                                "columns", f"row {row.number}"),)
        else:
            try:
                record = self._with_risk_events(row.record)
                mapped_record = record_from(record, row.where, self.local_zone)
                mapped = mapped_record.mapped
            except MappingError as error:
                problems = error.problems
            except Exception:  # a mapping bug must not lose the row, nor the rest of the file
                log.exception("mapping failed for row %d of %s", row.number, organisation)
                problems = (Problem("mapping-failed", "the hub could not map this record; it is "
                                    "kept for review and can be reprocessed",
                                    f"row {row.number}"),)
        kind = RECORD_TYPES.get(type_name, ("", "records"))[1]
        received_at = datetime.now(UTC)
        envelope = Envelope(
            sender=organisation, channel=f"{kind}:{transport}", raw=row.raw,
            received_at=received_at, message_type=f"record^{type_name or 'unknown'}",
            control_id=record_id)
        receipt = self._record(envelope, mapped, problems)
        if receipt.first_outcome == REJECTED and receipt.outcome == REJECTED and any(
                p.code == "control-id-reused" for p in receipt.problems):
            receipt = self._record(corrected(envelope), mapped, problems)
        outcome = receipt.outcome
        if outcome == DUPLICATE and receipt.first_outcome != ACCEPTED:
            outcome = REJECTED
        return (RowOutcome(row.number, record_id, outcome, receipt.problems, receipt.message_id,
                           receipt.elder_ids), receipt.position)

    def _with_risk_events(self, record: dict[str, Any]) -> dict[str, Any]:
        """A GB/T 42195 assessment that does not state its 近30天 risk events gets the count of
        the falls, choking, self-harm and wandering the hub holds for that elder (any source)."""
        values = english_keys(record)
        if record_type(str(values.get("record_type") or "")) != "assessment" \
                or str(values.get("risk_events_30d") or "").strip() \
                or str(values.get("standard") or GBT_42195).strip() != GBT_42195:
            return record
        identifier = identifiers.resident_id(str(values.get("resident_id") or ""))
        try:
            at = parse_instant(str(values.get("occurred_at") or ""), self.local_zone)
            index = self.app.repository.get(IdentifierIndex.create_id(identifier))
        except (ValueError, AggregateNotFoundError):
            return record
        incidents = ((d.occurred_at, d.fact.incident_type.code)
                     for e in self.app.elder_events(index.elder_id)
                     for d in recorded_facts(e)
                     if isinstance(d.fact, Incident) and d.fact.incident_type is not None)
        return {**record, "risk_events_30d": str(count_risk_events(incidents, at))}


def corrected(envelope: Envelope) -> Envelope:
    """A corrected record resent after its rejection is received anew under a suffixed key.

    Its natural key is taken by the rejected first version, which stays kept as it was; a new
    content under the same key would otherwise be refused as a reused id. Resending the
    corrected record again finds the suffixed key and adds nothing.
    """
    return Envelope(envelope.sender, envelope.channel, envelope.raw, envelope.received_at,
                    f"{envelope.control_id}~{envelope.sha256[:12]}", envelope.message_type)
