"""The elder's timeline: one entry per fact, with where it came from and when.

`entry_for(event)` is pure; the timeline is the entries of an elder's events ordered by
`occurred_at` (ties broken by the order the hub recorded them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.elder import Elder
from hub.values import plain

Entry = dict[str, Any]

SOURCE_KINDS = ("hospital", "family_doctor", "care_home")


def source_kind(channel: str) -> str:
    """Family doctors and care homes reach the hub on channels named `family_doctor:…` and
    `care_home:…`; every other channel (HL7 v2, FHIR) is a hospital's."""
    prefix = channel.split(":", 1)[0]
    return prefix if prefix in SOURCE_KINDS else "hospital"


def entry_for(event: Any) -> Entry | None:
    """The timeline entry an event contributes, or None if it contributes none."""
    if isinstance(event, Elder.FactRecorded):
        kind, summary, data = event.fact.kind, event.fact.summary(), plain(event.fact)
    elif isinstance(event, Elder.IdentifierLinked):
        identifier = event.identifier
        kind, summary, data = "identifier", f"标识: {identifier.system}|{identifier.value}", \
            plain(identifier)
    else:
        return None
    return {
        "elder_id": str(event.originator_id),
        "version": event.originator_version,
        "kind": kind,
        "summary": summary,
        "occurred_at": event.occurred_at.isoformat(),
        "recorded_at": event.timestamp.isoformat(),
        "source": plain(event.source),
        "source_kind": source_kind(event.source.channel),
        "data": data,
    }


def timeline(events: Any) -> list[Entry]:
    """Entries of the given events in the order things happened."""
    entries = [e for e in (entry_for(ev) for ev in events) if e is not None]
    return sorted(entries, key=order_key)


def order_key(entry: Entry) -> tuple[datetime, datetime, int]:
    """Order by when it happened (as an instant, whatever the offset), then by when recorded."""
    return (datetime.fromisoformat(entry["occurred_at"]),
            datetime.fromisoformat(entry["recorded_at"]), entry["version"])
