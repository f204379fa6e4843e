"""The elder's profile: who they are and what is current, each item with its source.

`apply(state, event) -> state` is a pure fold. The state is plain JSON-ready data. What is
"current" is chosen by `occurred_at`, never by arrival, so a late message never hides a newer fact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from hub.elder import Elder
from hub.facts import FACT_KINDS, Demographics, Fact
from hub.values import plain

Profile = dict[str, Any]

# Fact kinds kept as a list of current items, one per fact key, under their profile section.
LIST_SECTIONS: dict[str, str] = {kind: cls.section for kind, cls in FACT_KINDS.items()
                                 if cls.section}


def initial(elder_id: UUID | str) -> Profile:
    """The profile of an elder about whom nothing is known yet."""
    return {
        "elder_id": str(elder_id),
        "identifiers": [],
        "demographics": {},
        "demographics_provenance": {},
        **{section: [] for section in LIST_SECTIONS.values()},
        **{cls.current: None for cls in FACT_KINDS.values() if cls.current},
        "events_applied": 0,
        "last_recorded_at": None,
    }


def apply(state: Profile, event: Any) -> Profile:
    """Fold one event of the elder's stream into the profile; returns a new profile."""
    new = {**state, "events_applied": state["events_applied"] + 1,
           "last_recorded_at": event.timestamp.isoformat()}
    if isinstance(event, Elder.Registered):
        return new
    source = plain(event.source)
    occurred_at = event.occurred_at.isoformat()
    if isinstance(event, Elder.IdentifierLinked):
        new["identifiers"] = [*state["identifiers"],
                              {**plain(event.identifier), "source": source,
                               "occurred_at": occurred_at}]
        return new
    if isinstance(event, Elder.FactRecorded):
        return _apply_fact(new, event.fact, occurred_at, source)
    return new


def _apply_fact(state: Profile, fact: Fact, occurred_at: str, source: dict[str, Any]) -> Profile:
    if isinstance(fact, Demographics):
        return _apply_demographics(state, fact, occurred_at, source)
    item = {**plain(fact), "kind": fact.kind, "key": fact.key, "summary": fact.summary(),
            "occurred_at": occurred_at, "source": source}
    if fact.current:
        held = state.get(fact.current)
        if held is None or _not_earlier(occurred_at, held["occurred_at"]):
            state[fact.current] = item
    section = fact.section
    if not section:
        return state
    items = list(state.get(section, []))
    for i, current in enumerate(items):
        if current["key"] == fact.key:
            if _not_earlier(occurred_at, current["occurred_at"]):
                items[i] = item
            break
    else:
        items.append(item)
    state[section] = items
    return state


def _apply_demographics(state: Profile, fact: Demographics, occurred_at: str,
                        source: dict[str, Any]) -> Profile:
    """Field by field: a stated value replaces one stated at the same moment or earlier."""
    demographics = dict(state["demographics"])
    provenance = dict(state["demographics_provenance"])
    for name, value in plain(fact).items():
        if value in ("", None):
            continue
        held = provenance.get(name)
        if held is None or _not_earlier(occurred_at, held["occurred_at"]):
            demographics[name] = value
            provenance[name] = {"occurred_at": occurred_at, "source": source}
    state["demographics"] = demographics
    state["demographics_provenance"] = provenance
    return state


def _not_earlier(candidate: str, held: str) -> bool:
    return datetime.fromisoformat(candidate) >= datetime.fromisoformat(held)


def fold(elder_id: UUID | str, events: Any) -> Profile:
    """The profile after the given events, from nothing."""
    state = initial(elder_id)
    for event in events:
        state = apply(state, event)
    return state
