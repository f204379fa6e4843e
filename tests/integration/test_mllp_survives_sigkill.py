"""Acceptance 2: the server is killed (SIGKILL) mid-stream; after a restart the hospital resends
every message it had no ACK for, and the hub has lost none and duplicated no fact."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from adapters.bootstrap import bootstrap
from adapters.settings import Settings
from bench.mllp import oru

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 5000  # as issue 3 asks: the kill lands while thousands are still to come
KILL_AFTER_ACKS = 1500
FACTS_PER_MESSAGE = 11  # demographics + 10 results


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def mllp_server(database_url: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`yyhub mllp` as its own process, ready once it logs that it listens."""
    env = {**os.environ, "YYHUB_DATABASE_URL": database_url, "YYHUB_MLLP_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "adapters.cli", "mllp", "--no-worker"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    assert process.stderr is not None
    try:
        for line in process.stderr:
            if b"MLLP listening" in line:
                break
        else:
            raise AssertionError(f"server exited with {process.wait()}")
        drain = threading.Thread(target=process.stderr.read, daemon=True)
        drain.start()
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(30)


def stream(port: int, messages: dict[str, bytes], acked: set[str],
           on_ack: threading.Event | None = None, window: int = 20) -> None:
    """Send every message with up to `window` unanswered; note each ACKed control id."""
    sock = socket.create_connection(("127.0.0.1", port))
    slots = threading.Semaphore(window)

    def read() -> None:
        buffer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            buffer += chunk
            while b"\x1c\r" in buffer:
                frame, buffer = buffer.split(b"\x1c\r", 1)
                msa = frame.split(b"MSA|", 1)[1].split(b"\r", 1)[0].split(b"|")
                assert msa[0] == b"AA"
                acked.add(msa[1].decode())
                slots.release()
                if on_ack is not None and len(acked) >= KILL_AFTER_ACKS:
                    on_ack.set()
        for _ in range(window):
            slots.release()  # let the sender notice the connection is gone

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for raw in messages.values():
            slots.acquire()
            sock.sendall(b"\x0b" + raw + b"\x1c\r")
    except OSError:
        pass  # the server died under us; the caller resends what has no ACK
    if reader.is_alive():
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
    reader.join(60)
    sock.close()


def register_sender(database_url: str, facility: str) -> None:
    """The laboratory's facility is registered, as an operator does before it may send."""
    subprocess.run([sys.executable, "-m", "adapters.cli", "orgs", "add", facility, "--role",
                    "hospital", "--facility", facility], cwd=ROOT, check=True, timeout=120,
                   env={**os.environ, "YYHUB_DATABASE_URL": database_url},
                   capture_output=True)


def test_killed_server_loses_no_message_and_duplicates_no_fact(database_url: str) -> None:
    messages = {f"B{i}": oru(i, 50) for i in range(MESSAGES)}
    register_sender(database_url, "DGSY")
    acked: set[str] = set()
    port = _free_port()
    enough = threading.Event()
    with mllp_server(database_url, port) as server:
        client = threading.Thread(target=stream, args=(port, messages, acked, enough))
        client.start()
        assert enough.wait(120), "no ACKs came back"
        server.kill()  # SIGKILL: no shutdown, no flush
        server.wait(30)
        client.join(120)
    assert KILL_AFTER_ACKS <= len(acked) < MESSAGES

    with mllp_server(database_url, port):
        unanswered = {cid: raw for cid, raw in messages.items() if cid not in acked}
        stream(port, unanswered, acked)
    assert acked == set(messages)

    hub = bootstrap(Settings(database_url=database_url))
    try:
        topics: dict[str, int] = {}
        facts = 0
        for n in hub.app.recorder.select_notifications(start=1, limit=1_000_000):
            kind = n.topic.rsplit(".", 1)[-1]
            topics[kind] = topics.get(kind, 0) + 1
            if kind == "FactsRecorded":
                facts += len(hub.app.mapper.to_domain_event(n).facts)
    finally:
        hub.close()
    assert topics["Received"] == MESSAGES  # every message kept once
    assert topics["Accepted"] == MESSAGES
    assert facts == MESSAGES * FACTS_PER_MESSAGE  # no fact twice
