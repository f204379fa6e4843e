"""A referral as people read it: the 转诊单, where it stands, what is overdue, and every step.

`apply(state, event) -> state` is a pure fold over one referral's events; the worklist rows and
`GET /referrals/{id}` are both made from its result.
"""

from __future__ import annotations

from typing import Any

from hub.referrals import Referral
from hub.values import plain

View = dict[str, Any]

# Referral event class names (declared by `@event` on the aggregate) → the step they record.
_STEP_NAMES = {
    "Accepted": "accepted", "Refused": "refused", "Cancelled": "cancelled", "Expired": "expired",
    "Arrived": "arrived", "Completed": "completed", "ReturnSent": "returned",
    "FollowedUp": "followed-up", "Received": "received", "Overdue": "overdue",
}
_SKIP = {"originator_id", "originator_version", "originator_topic", "timestamp"}


def initial(event: Any) -> View:
    """The view of a referral just requested (or a return just sent)."""
    details = {k: plain(v) for k, v in vars(event).items() if k not in _SKIP}
    packet = details.pop("packet", {})
    return {
        "referral_id": str(event.originator_id),
        **details,
        "status": "requested" if event.direction == "up" else "sent",
        "return_id": None,
        "due_at": plain(event.due_at),
        "awaited": "accept" if event.direction == "up" else "receive",
        "overdue": False,
        "overdue_steps": [],
        "followed_up": False,
        "updated_at": plain(event.requested_at),
        "history": [{"step": "requested" if event.direction == "up" else "sent",
                     "by": event.from_organisation, "at": plain(event.requested_at)}],
        "packet": packet,
    }


def apply(state: View, event: Any) -> View:
    """Fold one more event of the referral into its view; returns a new view."""
    if not isinstance(event, Referral.Event):
        return state
    kind = type(event).__name__
    if kind == "Requested":
        return initial(event)
    name = _STEP_NAMES.get(kind)
    if name is None:
        return state
    data = {k: plain(v) for k, v in vars(event).items() if k not in _SKIP}
    by = data.pop("by_organisation", "")
    new = {**state, "updated_at": data.get("at", state["updated_at"]),
           "history": [*state["history"], {"step": name, "by": by, **data}]}
    if name == "overdue":
        new["overdue"] = True
        new["overdue_steps"] = [*state["overdue_steps"], data["awaited"]]
        return new
    if name == "returned":
        new["return_id"] = data["return_id"]
        return new
    if name == "followed-up":
        new.update(followed_up=True, awaited="", due_at=None, overdue=False)
        return new
    new.update(status=name, overdue=False, due_at=None, awaited="")
    if kind == "Accepted":
        new.update(to_organisation=by, receiving_doctor=data["receiving_doctor"],
                   appointment=data["appointment"], bed=data["bed"])
    elif kind == "Refused":
        new["refuse_reason"] = data["reason"]
    elif kind == "Completed":
        new.update(treatment_result=data["treatment_result"] or state.get("treatment_result", ""),
                   due_at=data["follow_up_due_at"], awaited="follow-up")
    return new
