"""Mapping errors carry the problems found, each naming its place in the sender's terms."""

from __future__ import annotations

from hub.values import Problem


class MappingError(ValueError):
    """Raised when input cannot be turned into facts; `problems` says where and why."""

    def __init__(self, problems: tuple[Problem, ...] | Problem):
        self.problems = problems if isinstance(problems, tuple) else (problems,)
        # set once the hub has kept the input (as a rejected inbound message)
        self.message_id: object | None = None
        self.position: int | None = None
        super().__init__("; ".join(f"{p.location}: {p.message}" for p in self.problems))


class UnreadableMessage(MappingError):
    """Raised when a message cannot be read at all (no MSH, bad encoding characters, charset)."""
