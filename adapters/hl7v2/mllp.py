"""MLLP listener: hospitals keep one TCP connection open and stream thousands of messages.

Framing per the MLLP spec (start block 0x0B, message, end block 0x1C 0x0D). Messages are
recorded by the blocking intake in a worker thread; an ACK is written only after that call
returns, that is after the message and its facts are committed. Messages a sender has already
sent when the listener reads (pipelined) are committed together in one save, then each is
answered, in the order they arrived. Bytes outside a frame are logged and skipped, never fatal.
A frame longer than the configured maximum is answered AR and discarded.

Faults (docs/operations.md): when the commit fails even after the bounded retries (the database
is down), the listener sends no ACK and closes the connection. Not an AE: many engines treat AE
as final and move on, while a missing ACK makes every engine resend after reconnecting — and a
resend of something that was committed after all is recognised by its control id. A connection
silent for `idle_timeout` seconds is closed (a stalled sender holds no worker), and connections
beyond `max_connections` are closed at once, each logged and counted for /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
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
DEFAULT_IDLE_TIMEOUT = 300.0
DEFAULT_MAX_CONNECTIONS = 100
# What this process's listeners refused or left unanswered (for /metrics).
MLLP_FAULTS = {"unacknowledged": 0, "idle_closed": 0, "over_connection_cap": 0, "oversize": 0}


class CommitFailed(Exception):
    """The batch could not be committed: nothing was acknowledged, the connection is closed."""


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
                 after_commit: Callable[[], None] | None = None,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS):
        self.receive_many = receive_many
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.connections = 0
        self.max_message_bytes = max_message_bytes
        self.max_batch = max_batch
        self.executor = executor
        self.after_commit = after_commit
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> asyncio.Server:
        # SO_REUSEPORT: several `yyhub mllp` processes share one port and the kernel spreads
        # hospitals' connections over them (`yyhub mllp --workers N`).
        self.server = await asyncio.start_server(self._serve_connection, host, port,
                                                 reuse_port=hasattr(socket, "SO_REUSEPORT"))
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
        try:
            answers = await loop.run_in_executor(self.executor, self.receive_many, batch,
                                                 CHANNEL)
        except Exception as error:
            MLLP_FAULTS["unacknowledged"] += len(batch)
            log.error("MLLP: %d message(s) not committed (%s: %s); no ACK sent, closing the "
                      "connection so the sender resends", len(batch), type(error).__name__,
                      str(error).splitlines()[0] if str(error) else "")
            raise CommitFailed from error
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
        if self.connections >= self.max_connections:
            MLLP_FAULTS["over_connection_cap"] += 1
            log.warning("MLLP %s: refused, already %d connections (the cap)", peer,
                        self.connections)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            return
        self.connections += 1
        frames = FrameReader(self.max_message_bytes)
        try:
            while True:
                try:
                    data = await asyncio.wait_for(reader.read(65536), self.idle_timeout)
                except TimeoutError:
                    MLLP_FAULTS["idle_closed"] += 1
                    log.warning("MLLP %s: nothing received for %.0f s; connection closed", peer,
                                self.idle_timeout)
                    break
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
                        MLLP_FAULTS["oversize"] += 1
                        log.warning("MLLP %s: message over %d bytes refused", peer,
                                    self.max_message_bytes)
                        writer.write(frame(oversize_ack(payload, self.max_message_bytes)))
                await self._commit_and_answer(batch, writer)
                await writer.drain()
        except (ConnectionResetError, BrokenPipeError) as error:
            log.info("MLLP %s: connection lost (%s)", peer, error)
        except CommitFailed:
            pass  # logged where it happened; closing is the answer
        finally:
            self.connections -= 1
            writer.close()
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                await writer.wait_closed()
