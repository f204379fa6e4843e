"""The API served from a thread on a free 127.0.0.1 port, for end-to-end tests and benchmarks."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from adapters.api.app import create_app
from adapters.bootstrap import Hub


@contextmanager
def serving(hub: Hub) -> Iterator[str]:
    """`yyhub serve`'s app over the given hub; yields the base URL.

    The socket listens before the server thread starts, so the first request simply waits in the
    backlog: nobody has to poll for readiness.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(hub=hub, background_worker=False), log_level="warning",
                            limit_concurrency=100)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
