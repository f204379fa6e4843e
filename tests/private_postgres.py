"""A PostgreSQL of the test's own, on a free port, that a test may stop and start at will.

The shared server at 127.0.0.1:5432 serves everyone's tests and must never be stopped; outage
tests stop this one instead. It runs as the `postgres` user from a temporary data directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

BIN_DIRS = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)


def binaries() -> str | None:
    """The newest PostgreSQL bin directory with initdb and pg_ctl, or None."""
    for folder in BIN_DIRS:
        if os.access(f"{folder}/initdb", os.X_OK) and os.access(f"{folder}/pg_ctl", os.X_OK):
            return folder
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run a server command as the postgres user (the server refuses to run as root)."""
    command = list(argv)
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)


@dataclass
class PrivatePostgres:
    """One throw-away cluster; `stop()` and `start()` are the outage."""

    bin_dir: str
    data_dir: str
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def start(self) -> None:
        _as_postgres(f"{self.bin_dir}/pg_ctl", "-D", self.data_dir, "-w", "-t", "60",
                     "-l", f"{self.data_dir}/server.log",
                     "-o", f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; `fast` drops every client connection, as a restart does."""
        _as_postgres(f"{self.bin_dir}/pg_ctl", "-D", self.data_dir, "-w", "-t", "60",
                     "-m", mode, "stop")

    def is_up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """initdb a cluster into a temp dir owned by postgres, start it, remove it afterwards."""
    bin_dir = binaries()
    assert bin_dir is not None
    data_dir = tempfile.mkdtemp(prefix="yyhub-pg-")
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
    server = PrivatePostgres(bin_dir, data_dir, free_port())
    _as_postgres(f"{bin_dir}/initdb", "-D", data_dir, "-U", "postgres", "-A", "trust",
                 "--no-sync", "-E", "UTF8")
    server.start()
    try:
        yield server
    finally:
        if server.is_up():
            server.stop("immediate")
        deadline = time.monotonic() + 30
        while server.is_up() and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(data_dir, ignore_errors=True)
