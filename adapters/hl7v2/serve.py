"""Running the listeners: MLLP alone, or MLLP beside the HTTP API in one event loop."""

from __future__ import annotations

import logging

from adapters.bootstrap import Hub, bootstrap, settle_service_process
from adapters.hl7v2.intake import Hl7Answer
from adapters.hl7v2.mllp import MllpListener
from adapters.settings import Settings

log = logging.getLogger(__name__)


def mllp_listener(hub: Hub) -> MllpListener:
    """An MLLP listener recording through the hub's HL7 intake."""
    def receive_many(raws: list[bytes], channel: str) -> list[Hl7Answer]:
        """MLLP has no keys: a sender is known by its MSH-4, which must be a facility some
        organisation is registered to send as (`yyhub orgs add … --facility`)."""
        allowed = hub.read_model.sending_facilities() if hub.settings.auth_required else None
        return hub.hl7.receive_many(raws, channel, allowed)

    return MllpListener(receive_many,
                        max_message_bytes=hub.settings.mllp_max_message_bytes,
                        after_commit=hub.projector.nudge,
                        idle_timeout=hub.settings.mllp_idle_timeout_seconds,
                        max_connections=hub.settings.mllp_max_connections)


async def serve_mllp(settings: Settings, host: str, port: int, worker: bool = True) -> None:
    """MLLP alone; without the projection worker when another process runs `yyhub project`."""
    hub = bootstrap(settings)
    settle_service_process()
    if worker:
        hub.start_worker()
    try:
        await mllp_listener(hub).serve_forever(host, port)
    finally:
        hub.close()


def serve_mllp_workers(settings: Settings, host: str, port: int, workers: int,
                       worker: bool) -> None:
    """`workers` listener processes on one port (SO_REUSEPORT); this process supervises them
    and runs the projection worker. A listener that dies is started again; its senders
    reconnect and resend what had no ACK."""
    import os
    import signal
    import subprocess
    import sys
    import time

    command = [sys.executable, "-m", "adapters.cli", "mllp", "--host", host, "--port",
               str(port), "--no-worker"]
    env = {**os.environ, "YYHUB_DATABASE_URL": settings.database_url}
    children = [subprocess.Popen(command, env=env) for _ in range(workers)]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    hub = bootstrap(settings)
    if worker:
        hub.start_worker()
    try:
        while not stopping:
            for i, child in enumerate(children):
                if child.poll() is not None:
                    log.warning("MLLP listener %d exited with %s; starting it again", child.pid,
                                child.returncode)
                    children[i] = subprocess.Popen(command, env=env)
            time.sleep(0.5)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(30)
        hub.close()


async def serve_http_and_mllp(settings: Settings, host: str, port: int, mllp_port: int) -> None:
    """HTTP and MLLP share one hub, so a message sent either way reads the same afterwards."""
    import uvicorn

    from adapters.api.app import create_app

    hub = bootstrap(settings)
    settle_service_process()
    listener = mllp_listener(hub)
    try:
        await listener.start(host, mllp_port)
        server = uvicorn.Server(uvicorn.Config(create_app(settings, hub=hub), host=host,
                                               port=port, log_level="info"))
        await server.serve()
    finally:
        await listener.close()
        hub.close()
