"""Group commit: aggregates saved by many threads at once share one transaction.

Each caller still returns only after its own aggregate is committed, so nothing is acknowledged
before it is durable; but when 200 readers each need an audit record at once, the database sees
a handful of commits instead of 200 (each commit of the event log takes its table lock).
Leader and followers, no background thread: the first caller to find no save in progress saves
everything queued, again and again until the queue is empty; the others wait for their batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID


class _Slot:
    __slots__ = ("aggregate", "done", "error", "position")

    def __init__(self, aggregate: Any):
        self.aggregate = aggregate
        self.done = threading.Event()
        self.position: int | None = None
        self.error: BaseException | None = None


class GroupCommit:
    """`save(aggregate)` returns the log position of its last event, after the commit."""

    def __init__(self, save_together: Callable[..., Sequence[Any]], max_batch: int = 500):
        self._save_together = save_together
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Slot] = []
        self._leading = False

    def save(self, aggregate: Any) -> int:
        slot = _Slot(aggregate)
        with self._lock:
            self._queue.append(slot)
            lead = not self._leading
            self._leading = True
        if lead:
            self._lead()
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        assert slot.position is not None
        return slot.position

    def _lead(self) -> None:
        while True:
            with self._lock:
                batch = self._queue[:self._max_batch]
                del self._queue[:self._max_batch]
                if not batch:
                    self._leading = False
                    return
            try:
                recordings = self._save_together(*(s.aggregate for s in batch))
                last: dict[UUID, int] = {}
                for recording in recordings:
                    last[recording.domain_event.originator_id] = recording.notification.id
                for s in batch:
                    s.position = last[s.aggregate.id]
            except BaseException as error:  # every caller of the batch hears of it
                for s in batch:
                    s.error = error
            for s in batch:
                s.done.set()
