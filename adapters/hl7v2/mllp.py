"""MLLP listener: hospitals keep one TCP connection open and stream thousands of messages.

Framing per the MLLP spec (start block 0x0B, message, end block 0x1C 0x0D). Messages are
recorded by the blocking intake in a worker thread; an ACK is written only after that call
returns, that is after the message and its facts are committed. Messages a sender has already
sent when the listener reads (pipelined) are committed together in one save, then each is
answered, in the order they arrived. Bytes outside a frame are logged and skipped, never fatal.
A frame longer than the configured maximum is answered AR and discarded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from adapters.hl7v2.ack import build_ack, encode_ack
from adapters.hl7v2.intake import Hl7Answer
from hub.values import Problem

log = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_BATCH = 200  # messages already waiting on one connection share one commit
CHANNEL = "mllp"


def frame(payload: bytes) -> bytes:
    """Wrap bytes in an MLLP block."""
    return START_BLOCK + payload + END_BLOCK


@dataclass
class FrameReader:
    """Splits a byte stream into MLLP frames; remembers garbage and oversize frames it skipped."""

    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    _buffer: bytearray = field(default_factory=bytearray)
    _in_frame: bool = False
    _oversize: bool = False

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        """Events found so far: ("message", payload), ("garbage", bytes), ("oversize", head)."""
        self._buffer += data
        found: list[tuple[str, bytes]] = []
        while self._buffer:
            if not self._in_frame:
                start = self._buffer.find(START_BLOCK)
                if start == -1:
                    junk = bytes(self._buffer)
                    self._buffer.clear()
                    if junk.strip(b"\r\n\x00 "):
                        found.append(("garbage", junk))
                    break
                junk = bytes(self._buffer[:start])
                if junk.strip(b"\r\n\x00 "):
                    found.append(("garbage", junk))
                del self._buffer[:start + 1]
                self._in_frame, self._oversize = True, False
                continue
            end = self._buffer.find(END_BLOCK)
            if end == -1:
                if len(self._buffer) > self.max_message_bytes:
                    if not self._oversize:
                        found.append(("oversize", bytes(self._buffer[:300])))
                        self._oversize = True
                    # keep only what could start the end block
                    del self._buffer[:-1]
                break
            payload = bytes(self._buffer[:end])
            del self._buffer[:end + len(END_BLOCK)]
            self._in_frame = False
            if self._oversize or len(payload) > self.max_message_bytes:
                if not self._oversize:
                    found.append(("oversize", payload[:300]))
                self._oversize = False
                continue
            found.append(("message", payload))
        return found


def oversize_ack(head: bytes, limit: int) -> bytes:
    """AR for a frame over the size limit, naming the control id if the head holds one."""
    control_id, version = "", "2.5"
    line = head.split(b"\r", 1)[0].split(b"\n", 1)[0].decode("latin-1")
    if line.startswith("MSH") and len(line) > 3:
        fields = line.split(line[3])
        control_id = fields[9] if len(fields) > 9 else ""
        version = fields[11].split("^")[0] if len(fields) > 11 else version
    problem = Problem("message-too-large",
                      f"message is larger than the limit of {limit} bytes; it was not kept")
    return build_ack("AR", control_id=control_id, version=version,
                     problems=(problem,)).encode("utf-8")


class MllpListener:
    """Serves MLLP on one port; `receive(raw, channel)` records a message and returns its ACK."""

    def __init__(self, receive_many: Callable[[list[bytes], str], list[Hl7Answer]], *,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 max_batch: int = DEFAULT_MAX_BATCH,
                 executor: Executor | None = None,
                 after_commit: Callable[[], None] | None = None):
        self.receive_many = receive_many
        self.max_message_bytes = max_message_bytes
        self.max_batch = max_batch
        self.executor = executor
        self.after_commit = after_commit
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> asyncio.Server:
        self.server = await asyncio.start_server(self._serve_connection, host, port)
        where = ", ".join(str(s.getsockname()) for s in self.server.sockets)
        log.info("MLLP listening on %s", where)
        return self.server

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def serve_forever(self, host: str, port: int) -> None:
        server = await self.start(host, port)
        async with server:
            await server.serve_forever()

    async def _commit_and_answer(self, batch: list[bytes], writer: asyncio.StreamWriter
                                 ) -> None:
        """Messages that arrived together are committed in one save, then each is answered."""
        if not batch:
            return
        loop = asyncio.get_running_loop()
        answers = await loop.run_in_executor(self.executor, self.receive_many, batch, CHANNEL)
        for answer in answers:
            writer.write(frame(encode_ack(answer.ack)))
        await writer.drain()
        if self.after_commit is not None:
            self.after_commit()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve_connection(self, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        frames = FrameReader(self.max_message_bytes)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                batch: list[bytes] = []
                for kind, payload in frames.feed(data):
                    if kind == "message":
                        batch.append(payload)
                        if len(batch) >= self.max_batch:
                            await self._commit_and_answer(batch, writer)
                            batch = []
                        continue
                    await self._commit_and_answer(batch, writer)
                    batch = []
                    if kind == "garbage":
                        log.warning("MLLP %s: %d bytes outside a frame skipped: %r", peer,
                                    len(payload), payload[:60])
                    else:
                        log.warning("MLLP %s: message over %d bytes refused", peer,
                                    self.max_message_bytes)
                        writer.write(frame(oversize_ack(payload, self.max_message_bytes)))
                await self._commit_and_answer(batch, writer)
                await writer.drain()
        except (ConnectionResetError, BrokenPipeError) as error:
            log.info("MLLP %s: connection lost (%s)", peer, error)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                await writer.wait_closed()
