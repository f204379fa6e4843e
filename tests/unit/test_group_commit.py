"""Reads audited at the same moment share a commit, and each reader still waits for its own;
messages from several connections share one save, and each connection gets its own answers."""

from __future__ import annotations

import threading
from dataclasses import dataclass
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

    def save(self, records: list[Record]) -> list[int]:
        """The log position of each record."""
        if not self.batches and self.hold_first_until:
            self.release.wait(10)  # the first commit is slow: others queue up meanwhile
        self.batches.append(list(records))
        out = []
        for _ in records:
            self.position += 1
            out.append(self.position)
        return out


def test_readers_arriving_during_a_commit_share_the_next_one_and_each_gets_its_position() -> None:
    log = Log(hold_first_until=1)
    commit = GroupCommit(log.save)
    records = [Record(uuid4()) for _ in range(40)]
    positions: dict[UUID, int] = {}

    def read(record: Record) -> None:
        positions[record.id] = commit.run([record])[0]

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

    def flaky(records: list[Record]) -> list[int]:
        calls.append(records)
        if len(calls) == 1:
            raise ConnectionError("database went away")
        return Log().save(records)

    commit = GroupCommit(flaky)
    with pytest.raises(ConnectionError):
        commit.run([Record(uuid4())])
    assert commit.run([Record(uuid4())]) == [1]


def test_connections_arriving_during_a_save_share_the_next_and_each_gets_its_own_answers(
        ) -> None:
    log = Log(hold_first_until=1)
    commit = GroupCommit(log.save)
    answers: dict[int, list[int]] = {}

    def connection(number: int, messages: int) -> None:
        answers[number] = commit.run([Record(uuid4()) for _ in range(messages)])

    first = threading.Thread(target=connection, args=(0, 2))
    first.start()
    while not commit._leading:
        pass
    others = [threading.Thread(target=connection, args=(n, n)) for n in (1, 3, 5)]
    for t in others:
        t.start()
    while len(commit._queue) < 3:
        threading.Event().wait(0.001)
    log.release.set()
    for t in [first, *others]:
        t.join(10)
    assert [len(b) for b in log.batches] == [2, 9]  # four connections, two saves
    assert answers[0] == [1, 2]
    assert sorted(p for n in (1, 3, 5) for p in answers[n]) == list(range(3, 12))
    assert all(len(answers[n]) == n for n in (1, 3, 5))
    assert all(a == sorted(a) and a == list(range(a[0], a[0] + len(a)))
               for a in answers.values())  # each connection's answers in its own order
