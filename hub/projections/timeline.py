"""The elder's timeline: one entry per fact, with where it came from and when.

`entries_for(event)` is pure; the timeline is the entries of an elder's events ordered by
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


def entries_for(event: Any) -> list[Entry]:
    """The timeline entries an event contributes (one per fact; none for most events)."""
    if isinstance(event, Elder.FactsRecorded):
        items = [(d.fact.kind, d.fact.summary(), plain(d.fact), d.occurred_at)
                 for d in event.facts]
    elif isinstance(event, Elder.IdentifierLinked):
        identifier = event.identifier
        items = [("identifier", f"标识: {identifier.system}|{identifier.value}",
                  plain(identifier), event.occurred_at)]
    else:
        return []
    # What every entry of the event shares is worked out once (a message has many facts).
    elder_id, version = str(event.originator_id), event.originator_version
    recorded_at, source = event.timestamp.isoformat(), plain(event.source)
    kind_of_source = source_kind(event.source.channel)
    return [{
        "elder_id": elder_id,
        "version": version,
        "seq": seq,
        "kind": kind,
        "summary": summary,
        "occurred_at": occurred_at.isoformat(),
        "recorded_at": recorded_at,
        "source": source if seq == 0 else dict(source),
        "source_kind": kind_of_source,
        "data": data,
    } for seq, (kind, summary, data, occurred_at) in enumerate(items)]


def timeline(events: Any) -> list[Entry]:
    """Entries of the given events in the order things happened."""
    entries = [entry for event in events for entry in entries_for(event)]
    return sorted(entries, key=order_key)


def order_key(entry: Entry) -> tuple[datetime, datetime, int, int]:
    """Order by when it happened (as an instant, whatever the offset), then by when recorded."""
    return (datetime.fromisoformat(entry["occurred_at"]),
            datetime.fromisoformat(entry["recorded_at"]), entry["version"], entry.get("seq", 0))
