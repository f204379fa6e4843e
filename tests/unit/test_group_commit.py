"""Reads audited at the same moment share a commit, and each reader still waits for its own."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest

from hub.group_commit import GroupCommit


@dataclass
class Record:
    id: UUID


class Log:
    """Stands in for the event store's save: numbers what it is given, one batch at a time."""

    def __init__(self, hold_first_until: int = 0):
        self.batches: list[list[Record]] = []
        self.position = 0
        self.release = threading.Event()
        self.hold_first_until = hold_first_until

    def save(self, *records: Record) -> list[Any]:
        if not self.batches and self.hold_first_until:
            self.release.wait(10)  # the first commit is slow: others queue up meanwhile
        self.batches.append(list(records))
        out = []
        for record in records:
            self.position += 1
            out.append(SimpleNamespace(domain_event=SimpleNamespace(originator_id=record.id),
                                       notification=SimpleNamespace(id=self.position)))
        return out


def test_readers_arriving_during_a_commit_share_the_next_one_and_each_gets_its_position() -> None:
    log = Log(hold_first_until=1)
    commit = GroupCommit(log.save)
    records = [Record(uuid4()) for _ in range(40)]
    positions: dict[UUID, int] = {}

    def read(record: Record) -> None:
        positions[record.id] = commit.save(record)

    first = threading.Thread(target=read, args=(records[0],))
    first.start()
    while not commit._leading:
        pass
    others = [threading.Thread(target=read, args=(r,)) for r in records[1:]]
    for t in others:
        t.start()
    while len(commit._queue) < 39:
        threading.Event().wait(0.001)
    log.release.set()
    for t in [first, *others]:
        t.join(10)
    assert [len(b) for b in log.batches] == [1, 39]  # 40 audit records, two commits
    saved = [r.id for b in log.batches for r in b]
    assert {positions[rid] for rid in saved} == set(range(1, 41))
    assert all(positions[rid] == saved.index(rid) + 1 for rid in saved)


def test_a_failed_commit_is_reported_to_every_reader_in_it_and_the_next_commit_works() -> None:
    calls = []

    def flaky(*records: Record) -> list[Any]:
        calls.append(records)
        if len(calls) == 1:
            raise ConnectionError("database went away")
        return Log().save(*records)

    commit = GroupCommit(flaky)
    with pytest.raises(ConnectionError):
        commit.save(Record(uuid4()))
    assert commit.save(Record(uuid4())) == 1
