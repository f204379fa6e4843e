"""InboundMessage: the record that a message or file row reached the hub, and what became of it.

A message is saved together with the facts it produced in one atomic save, so a message the hub
acknowledged is always kept with its facts, and a message it did not keep was never acknowledged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from hub.values import Problem

INBOUND_NAMESPACE = uuid5(NAMESPACE_URL, "urn:yyhub:inbound")

ACCEPTED = "accepted"
REJECTED = "rejected"
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Envelope:
    """How a message arrived: who sent it, on which channel, its control id and its raw bytes."""

    sender: str
    channel: str
    raw: bytes
    received_at: datetime
    control_id: str = ""
    message_type: str = ""

    @cached_property
    def sha256(self) -> str:  # asked for several times per message; a Bundle is large
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def natural_key(self) -> str:
        return natural_key(self.sender, self.control_id, self.sha256)


def natural_key(sender: str, control_id: str, sha256: str) -> str:
    """Sender plus control id; a message without one is known by its content."""
    return f"{sender}|{control_id or 'sha256:' + sha256}"


class InboundMessage(Aggregate):
    """One received message; resending it finds this record instead of creating facts again."""

    @staticmethod
    def create_id(sender: str, control_id: str, sha256: str, content_keyed: bool = False
                  ) -> UUID:
        """Sender and control id; `content_keyed` for a message that reused a control id with
        different content, which is then known by id and content together."""
        key = natural_key(sender, control_id, sha256)
        return uuid5(INBOUND_NAMESPACE, f"{key}|{sha256}" if content_keyed else key)

    @event("Received")
    def __init__(self, sender: str, channel: str, control_id: str, message_type: str,
                 sha256: str, received_at: datetime, content_keyed: bool = False):
        self.sender = sender
        self.channel = channel
        self.control_id = control_id
        self.message_type = message_type
        self.sha256 = sha256
        self.outcome = ""
        self.problems: tuple[Problem, ...] = ()
        self.elder_ids: tuple[UUID, ...] = ()
        self.raw = b""
        self.reprocessed = 0

    # The raw bytes travel with the outcome, so the event that holds them also names whose
    # personal data they are (and so which elder's key encrypts them).
    @event("Accepted")
    def accept(self, elder_ids: tuple[UUID, ...], fact_count: int,
               warnings: tuple[Problem, ...], raw: bytes) -> None:
        self.outcome = ACCEPTED
        self.elder_ids = tuple(elder_ids)
        self.problems = tuple(warnings)
        self.raw = raw

    @event("Rejected")
    def reject(self, problems: tuple[Problem, ...], raw: bytes) -> None:
        """`raw` is empty only when keeping it would keep an erased person's data."""
        self.outcome = REJECTED
        self.problems = tuple(problems)
        self.raw = raw

    @event("Reprocessed")
    def note_reprocessing(self, previous_outcome: str,
                          previous_problems: tuple[Problem, ...]) -> None:
        """The message is decided again with newer mappings; the next event is the outcome."""
        self.reprocessed += 1

    @event("ResendReceived")
    def note_resend(self, sha256: str, received_at: datetime, same_content: bool) -> None:
        """A resend is noted for the audit trail; it never creates facts."""
