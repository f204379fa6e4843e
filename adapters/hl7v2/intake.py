"""One HL7 v2 message in, one ACK out — the ACK built only after the commit."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from uuid import UUID

from adapters.hl7v2.ack import build_ack
from hub.application import HubApplication, MappedMessage, Receipt
from hub.inbound import ACCEPTED, DUPLICATE, Envelope
from hub.values import Problem
from mappings.errors import MappingError, UnreadableMessage
from mappings.hl7v2 import adt, documents, er7, referrals, results
from mappings.hl7v2.strict import strict_problems

# (message code, trigger) → mapping. The trigger comes from MSH-9.2; MSH-9.3 (the structure)
# is often mislabelled and is not read. Every other type is kept and answered AE.
Mapping = Callable[[er7.Er7Message, tzinfo], MappedMessage]
MAPPINGS: dict[tuple[str, str], Mapping] = {
    **{("ADT", trigger): adt.mapped_message_from_adt for trigger in adt.ENCOUNTER_EVENTS},
    ("ORU", "R01"): results.mapped_message_from_oru,
    **{("MDM", trigger): documents.mapped_message_from_mdm
       for trigger in ("T01", "T02", "T05", "T06", "T09", "T10")},
    ("REF", "I12"): referrals.mapped_message_from_ref,
}


@dataclass(frozen=True)
class Hl7Answer:
    """The receipt and the ACK text to send back."""

    receipt: Receipt
    ack: str
    ack_code: str


@dataclass(frozen=True)
class _Read:
    """A message as read and mapped, ready to record: (envelope, mapped, problems)."""

    item: tuple[Envelope, MappedMessage | None, tuple[Problem, ...]]
    message: er7.Er7Message | None
    code: str | None  # "AR" when unreadable, else decided by the receipt


class Hl7Intake:
    """Reads, maps and records HL7 v2 messages through the application service."""

    def __init__(self, app: HubApplication, local_zone: tzinfo,
                 record: Callable[..., Receipt] | None = None,
                 record_many: Callable[..., list[Receipt]] | None = None,
                 strict: bool = False):
        self.app = app
        self.local_zone = local_zone
        # Also validate each message with hl7apy against the standard (mappings/hl7v2/strict.py).
        self.strict = strict
        self._record = record or app.receive
        self._record_many = record_many or app.receive_many

    def receive(self, raw: bytes, channel: str,
                allowed_facilities: set[str] | None = None) -> Hl7Answer:
        """Record one message and answer it (after the commit); `allowed_facilities` are the
        MSH-4 values the sender may use (None: any)."""
        read = self._read(raw, channel, allowed_facilities)
        return self._answer(self._record(*read.item), read.message, read.code)

    def receive_many(self, raws: list[bytes], channel: str,
                     allowed_facilities: set[str] | None = None) -> list[Hl7Answer]:
        """Record messages that arrived together in one save; answers in the same order."""
        reads = [self._read(raw, channel, allowed_facilities) for raw in raws]
        receipts = self._record_many([r.item for r in reads])
        return [self._answer(receipt, r.message, r.code) for receipt, r in zip(
            receipts, reads, strict=True)]

    def _read(self, raw: bytes, channel: str,
              allowed_facilities: set[str] | None = None) -> _Read:
        received_at = datetime.now(UTC)
        try:
            message, warnings = er7.read(raw)
        except UnreadableMessage as error:
            envelope = Envelope(_sender_guess(raw), channel, raw, received_at)
            return _Read((envelope, None, error.problems), None, "AR")

        msh = message.first("MSH")
        code, trigger = adt.message_type(message)
        envelope = Envelope(
            sender=f"{message.get(msh, 3, 1)}^{message.get(msh, 4, 1)}", channel=channel,
            raw=raw, received_at=received_at, control_id=message.get(msh, 10),
            message_type=f"{code}^{trigger}")
        facility = message.get(msh, 4, 1)
        if allowed_facilities is not None and facility not in allowed_facilities:
            # Kept under its content hash, so it can never occupy the real facility's
            # control id and block that facility's own message later.
            refused = Envelope(f"refused:{envelope.sender}", channel, raw, received_at,
                               message_type=envelope.message_type)
            return _Read((refused, None, (Problem(
                "unknown-sender", f"sending facility {facility!r} is not one this "
                "organisation may send as", "MSH[1]-4"),)), message, "AR")
        mapped, problems = self._map(message, self._checked(raw, tuple(warnings)))
        return _Read((envelope, mapped, problems), message, None)

    def reprocess(self, message_id: UUID) -> Hl7Answer:
        """Decide a kept message again through today's mappings, on its original record."""
        raw = self.app.raw_message(message_id)
        try:
            message, warnings = er7.read(raw)
        except UnreadableMessage as error:
            return self._answer(self.app.reprocess(message_id, None, error.problems), None, "AR")
        mapped, problems = self._map(message, self._checked(raw, tuple(warnings)))
        return self._answer(self.app.reprocess(message_id, mapped, problems), message, None)

    def _checked(self, raw: bytes, problems: tuple[Problem, ...]) -> tuple[Problem, ...]:
        """The reader's warnings, and in strict mode what hl7apy's validation finds."""
        if not self.strict:
            return problems
        return problems + strict_problems(er7.decode(raw)[0])

    def _map(self, message: er7.Er7Message, problems: tuple[Problem, ...]
             ) -> tuple[MappedMessage | None, tuple[Problem, ...]]:
        """The mapped message, or the problems that stop it (MSH-10, type, content)."""
        code, trigger = adt.message_type(message)
        mapping = MAPPINGS.get((code, trigger))
        if not message.get(message.first("MSH"), 10):
            return None, problems + (Problem(
                "required-field-missing", "MSH-10 message control id is empty", "MSH[1]-10"),)
        if mapping is None:
            return None, problems + (Problem(
                "unsupported-message-type", f"message type {code}^{trigger} is not supported; "
                "it is kept and can be reprocessed when it is", "MSH[1]-9"),)
        try:
            return mapping(message, self.local_zone), problems
        except MappingError as error:
            return None, problems + error.problems

    def _answer(self, receipt: Receipt, message: er7.Er7Message | None,
                code: str | None) -> Hl7Answer:
        if code is None:
            if receipt.outcome in (ACCEPTED, DUPLICATE) and receipt.first_outcome == ACCEPTED:
                code = "AA"
            else:
                code = "AE"
        if message is None:
            ack = build_ack(code, control_id="", version="2.5", problems=receipt.problems)
            return Hl7Answer(receipt, ack, code)
        msh = message.first("MSH")
        ack = build_ack(
            code, control_id=message.get(msh, 10), version=message.get(msh, 12, 1),
            sending_application=message.get(msh, 3, 1), sending_facility=message.get(msh, 4, 1),
            trigger=message.get(msh, 9, 2), charset=message.get(msh, 18),
            problems=receipt.problems)
        return Hl7Answer(receipt, ack, code)


def _sender_guess(raw: bytes) -> str:
    """MSH-3^MSH-4 read leniently from a message that could not be parsed, for the record."""
    head = raw.lstrip(b"\xef\xbb\xbf\x0b")[:300].decode("latin-1")
    if not head.startswith("MSH") or len(head) < 4:
        return "unknown"
    fields = re.split(r"[\r\n]", head, maxsplit=1)[0].split(head[3])
    if len(fields) < 4:
        return "unknown"
    return f"{fields[2].split('^')[0]}^{fields[3].split('^')[0]}"
