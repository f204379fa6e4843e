"""An elder's profile as it stood at a past instant, from the nearest profile checkpoint.

The plain answer is `profile.fold` of every event of the elder's stream recorded by then. The
projection keeps, every so many events of a stream, that stream's folded profile (the
`profile_checkpoint` read-model table); this read starts from the latest checkpoint recorded
by the instant and folds only the events after it, so its cost does not grow with the stream.

A stream's events are recorded in time order (each is stamped when it is triggered, on the
version after the one its writer read), so the events known by an instant are a prefix of the
stream: the read stops at the first event recorded after the instant.

Erasure deletes an elder's checkpoints; the read then folds from nothing what is still readable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from event_store.readmodel import ReadModel
from hub.application import HubApplication
from hub.projections import profile


def profile_as_of(app: HubApplication, read_model: ReadModel, elder_id: UUID,
                  as_of: datetime) -> dict[str, Any] | None:
    """The profile of this elder's own stream from the events recorded by `as_of` (an aware
    instant), equal to `profile.fold` of them; None when none had been recorded by then."""
    checkpoint = read_model.profile_checkpoint(str(elder_id), as_of)
    version, state = checkpoint if checkpoint else (0, profile.initial(elder_id))
    known = checkpoint is not None
    for event in app.readable_events(elder_id, after_version=version):
        if event.timestamp > as_of:
            break
        state = profile.apply(state, event)
        known = True
    return state if known else None

