"""The elder's profile: who they are and what is current, each item with its source.

`apply(state, event) -> state` is a pure fold. The state is plain JSON-ready data. What is
"current" is chosen by `occurred_at`, never by arrival, so a late message never hides a newer fact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from hub.elder import Elder, recorded_facts
from hub.facts import FACT_KINDS, Demographics, Fact
from hub.values import plain

Profile = dict[str, Any]
MERGE_EVENTS = (Elder.MergedInto, Elder.Absorbed, Elder.Unmerged)

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
    """Fold one event of the elder's stream into the profile; returns a new profile.

    Merge events leave a stream's own profile as it was: a merged person is composed from
    their streams' profiles (`combine`), so an unmerge gives each back exactly."""
    if isinstance(event, MERGE_EVENTS):
        return state
    new = {**state, "events_applied": state["events_applied"] + 1,
           "last_recorded_at": event.timestamp.isoformat()}
    if isinstance(event, Elder.Registered):
        return new
    source = plain(event.source)
    if isinstance(event, Elder.IdentifierLinked):
        new["identifiers"] = [*state["identifiers"],
                              {**plain(event.identifier), "source": source,
                               "occurred_at": event.occurred_at.isoformat()}]
        return new
    copied: set[str] = set()  # sections of `new` that are already its own lists
    for dated in recorded_facts(event):
        new = _apply_fact(new, dated.fact, dated.occurred_at.isoformat(), source, copied)
    return new


def _apply_fact(state: Profile, fact: Fact, occurred_at: str, source: dict[str, Any],
                copied: set[str]) -> Profile:
    if isinstance(fact, Demographics):
        return _apply_demographics(state, fact, occurred_at, source)
    key = fact.key
    item = {**plain(fact), "kind": fact.kind, "key": key, "summary": fact.summary(),
            "occurred_at": occurred_at, "source": source}
    if fact.current:
        held = state.get(fact.current)
        if held is None or _not_earlier(occurred_at, held["occurred_at"]):
            state[fact.current] = item
    section = fact.section
    if not section:
        return state
    if section in copied:
        items = state[section]
    else:  # the given profile's list is never changed: copied once per event
        items = state[section] = list(state.get(section, []))
        copied.add(section)
    for i, current in enumerate(items):
        if current["key"] == key:
            if _not_earlier(occurred_at, current["occurred_at"]):
                items[i] = item
            break
    else:
        items.append(item)
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


def combine(person_id: UUID | str, profiles: list[Profile]) -> Profile:
    """One person's profile from the profiles of the streams merged into them (the survivor's
    first): every identifier, and per item and field what happened last, as one fold of all
    their events would choose. Pure; the streams' own profiles are not changed."""
    state = initial(person_id)
    seen: set[tuple[str, str]] = set()
    for document in profiles:
        for identifier in document["identifiers"]:
            key = (identifier["system"], identifier["value"])
            if key not in seen:
                seen.add(key)
                state["identifiers"].append(identifier)
        for name, held in document["demographics_provenance"].items():
            mine = state["demographics_provenance"].get(name)
            if mine is None or _not_earlier(held["occurred_at"], mine["occurred_at"]):
                state["demographics"][name] = document["demographics"][name]
                state["demographics_provenance"][name] = held
        for section in LIST_SECTIONS.values():
            items = state[section]
            for item in document.get(section, []):
                for i, current in enumerate(items):
                    if current["key"] == item["key"]:
                        if _not_earlier(item["occurred_at"], current["occurred_at"]):
                            items[i] = item
                        break
                else:
                    items.append(item)
        for cls in FACT_KINDS.values():
            if cls.current and document.get(cls.current) is not None:
                held, mine = document[cls.current], state[cls.current]
                if mine is None or _not_earlier(held["occurred_at"], mine["occurred_at"]):
                    state[cls.current] = held
        state["events_applied"] += document["events_applied"]
        if document["last_recorded_at"] and (
                state["last_recorded_at"] is None
                or _not_earlier(document["last_recorded_at"], state["last_recorded_at"])):
            state["last_recorded_at"] = document["last_recorded_at"]
    state["members"] = [document["elder_id"] for document in profiles]
    return state
