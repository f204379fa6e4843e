"""FHIR test helpers: a real HTTP server on an ephemeral port, and corpus examples read in place."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from adapters.api.app import create_app
from adapters.bootstrap import Hub
from tests.conftest import CORPUS

R4_EXAMPLES = (CORPUS / "google-fhir_hl7.fhir.r4.examples-4.0.1" / "spec"
               / "hl7.fhir.r4.examples" / "4.0.1" / "package")
US_CORE_EXAMPLES = CORPUS / "HL7-US-Core" / "input" / "examples"
RESIDENT_ID = "urn:oid:2.16.156.10011.1.3"


def example(name: str) -> dict[str, Any]:
    """An official R4 example by file name (`Patient-ch-example.json`)."""
    path = R4_EXAMPLES / name if (R4_EXAMPLES / name).exists() else US_CORE_EXAMPLES / name
    return json.loads(path.read_text("utf-8"))  # type: ignore[no-any-return]


def corpus_files() -> list[Path]:
    return sorted([*R4_EXAMPLES.glob("*.json"), *US_CORE_EXAMPLES.glob("*.json")])


@contextmanager
def running_server(hub: Hub) -> Iterator[str]:
    """`yyhub serve`'s app over the given hub on 127.0.0.1:<free port>; yields the base URL.

    The socket is listening before the server thread starts, so the first request simply waits
    in the backlog: no polling for readiness.
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
