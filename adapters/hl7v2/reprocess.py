"""Reprocessing kept messages (quarantine → facts) once the hub supports what they carry."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

from adapters.bootstrap import Hub

PAGE = 100_000


def rejected_message_ids(hub: Hub) -> list[UUID]:
    """Every message whose current outcome is rejected, oldest first."""
    hub.projector.catch_up()
    rows = hub.read_model.inbound("rejected", PAGE)
    return [UUID(row["message_id"]) for row in reversed(rows)]


def reprocess_messages(hub: Hub, message_ids: list[str], all_rejected: bool) -> Iterator[str]:
    """Reprocess the named messages (and every rejected one); one line of outcome each."""
    selected = [UUID(i) for i in message_ids]
    if all_rejected:
        selected += [i for i in rejected_message_ids(hub) if i not in selected]
    counts: dict[str, int] = {}
    for message_id in selected:
        answer = hub.hl7.reprocess(message_id)
        receipt = answer.receipt
        counts[answer.ack_code] = counts.get(answer.ack_code, 0) + 1
        problems = "; ".join(f"{p.location} {p.message}" for p in receipt.problems
                             if p.is_error)
        yield (f"{message_id} {answer.ack_code} {receipt.outcome} facts={receipt.fact_count}"
               + (f" — {problems}" if problems else ""))
    hub.projector.catch_up()
    yield "reprocessed: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none")
