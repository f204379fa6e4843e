"""Group commit: what many threads save at once shares one transaction.

Each caller still returns only after its own items are committed, so nothing is acknowledged
before it is durable; but when 200 readers each need an audit record at once, or four hospital
connections each bring a handful of messages, the database sees a few commits instead of one
per caller (each commit of the event log takes its table lock and waits for the disk).
Leader and followers, no background thread: the first caller to find no save in progress saves
everything queued, again and again until the queue is empty; the others wait for their batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Slot(Generic[Item, Result]):
    __slots__ = ("done", "error", "items", "results")

    def __init__(self, items: list[Item]):
        self.items = items
        self.done = threading.Event()
        self.results: list[Result] = []
        self.error: BaseException | None = None


class GroupCommit(Generic[Item, Result]):
    """`run(items)` returns what `save_together` returns for exactly those items, in order.

    `save_together(items)` must commit all of its items in one go (or raise) and return one
    result per item; callers arriving while it runs are joined into its next call.
    """

    def __init__(self, save_together: Callable[[list[Item]], Sequence[Result]],
                 max_batch: int = 500):
        self._save_together = save_together
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Slot[Item, Result]] = []
        self._leading = False

    def run(self, items: list[Item]) -> list[Result]:
        slot: _Slot[Item, Result] = _Slot(items)
        with self._lock:
            self._queue.append(slot)
            lead = not self._leading
            self._leading = True
        if lead:
            self._lead()
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return slot.results

    def _lead(self) -> None:
        while True:
            with self._lock:
                batch, size = [], 0
                while self._queue and (not batch or
                                       size + len(self._queue[0].items) <= self._max_batch):
                    slot = self._queue.pop(0)
                    batch.append(slot)
                    size += len(slot.items)
                if not batch:
                    self._leading = False
                    return
            try:
                results = list(self._save_together([i for s in batch for i in s.items]))
                start = 0
                for s in batch:
                    s.results = results[start:start + len(s.items)]
                    start += len(s.items)
            except BaseException as error:  # every caller of the batch hears of it
                for s in batch:
                    s.error = error
            for s in batch:
                s.done.set()
