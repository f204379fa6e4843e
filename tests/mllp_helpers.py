"""A real MLLP listener on an ephemeral port, and a real client (the `hl7` package)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from hl7.client import MLLPClient

from adapters.bootstrap import Hub
from adapters.hl7v2.mllp import MllpListener


@contextmanager
def running_listener(hub: Hub, max_message_bytes: int = 1024 * 1024,
                     **limits: float) -> Iterator[MllpListener]:
    """The listener served from its own event loop thread, as `yyhub mllp` serves it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="mllp-test-loop", daemon=True)
    thread.start()
    listener = MllpListener(hub.hl7.receive_many, max_message_bytes=max_message_bytes,
                            **limits)  # type: ignore[arg-type]
    asyncio.run_coroutine_threadsafe(listener.start("127.0.0.1", 0), loop).result(10)
    try:
        yield listener
    finally:
        asyncio.run_coroutine_threadsafe(listener.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def exchange(client: MLLPClient, payload: bytes, *, framed: bool = False) -> bytes:
    """Send one message (or raw framed bytes) and read the whole framed ACK."""
    answer = client.send(payload) if framed else client.send_message(payload)
    while not answer.endswith(b"\x1c\r"):
        more = client.socket.recv(4096)
        if not more:
            break
        answer += more
    return answer


def ack_code(answer: bytes) -> str:
    """MSA-1 of a framed ACK."""
    text = answer.strip(b"\x0b\x1c\r").decode("utf-8", "replace")
    msa = next(s for s in text.split("\r") if s.startswith("MSA"))
    return msa.split("|")[1]


def ack_control_id(answer: bytes) -> str:
    text = answer.strip(b"\x0b\x1c\r").decode("utf-8", "replace")
    msa = next(s for s in text.split("\r") if s.startswith("MSA"))
    return msa.split("|")[2]
