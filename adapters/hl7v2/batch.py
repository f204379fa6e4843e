"""HL7 batches (FHS/BHS … BTS/FTS): split into messages, and answer with a batch of ACKs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_SEGMENT_BREAK = re.compile(rb"\r\n|\r|\n")
_ENVELOPE = (b"FHS", b"BHS", b"BTS", b"FTS")


@dataclass(frozen=True)
class Batch:
    """The messages of a batch and whether it was wrapped in a file header."""

    messages: tuple[bytes, ...]
    file: bool


def is_batch(raw: bytes) -> bool:
    return raw.lstrip(b"\xef\xbb\xbf\x0b\r\n ").startswith((b"FHS", b"BHS"))


def split_batch(raw: bytes) -> Batch:
    """Each MSH starts a message; envelope segments are dropped. Line ends are kept as CR."""
    lines = _SEGMENT_BREAK.split(raw.lstrip(b"\xef\xbb\xbf\x0b"))
    messages: list[list[bytes]] = []
    for line in lines:
        if not line.strip():
            continue
        if line.startswith(_ENVELOPE):
            continue
        if line.startswith(b"MSH"):
            messages.append([])
        if messages:
            messages[-1].append(line)
    file = raw.lstrip(b"\xef\xbb\xbf\x0b\r\n ").startswith(b"FHS")
    return Batch(tuple(b"\r".join(m) + b"\r" for m in messages), file)


def batch_ack(acks: list[str], file: bool) -> str:
    """The ACKs in a batch (and file) envelope, counted in BTS-1 and FTS-1."""
    now = datetime.now().strftime("%Y%m%d%H%M%S")
    header = f"|^~\\&|YYHUB|YIYANG-HUB|||{now}"
    body = [ack.rstrip("\r") for ack in acks]
    segments = [f"BHS{header}", *body, f"BTS|{len(acks)}"]
    if file:
        segments = [f"FHS{header}", *segments, "FTS|1"]
    return "\r".join(segments) + "\r"
