"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from adapters.api.routes import elders, fhir, hl7v2, inbound
from adapters.bootstrap import Hub, bootstrap
from adapters.settings import Settings


def create_app(settings: Settings | None = None, hub: Hub | None = None,
               background_worker: bool = True) -> FastAPI:
    """The API over a hub built from settings (or over a given hub, which the caller owns)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = hub is None
        running = hub or bootstrap(settings)
        app.state.hub = running
        if background_worker:
            running.start_worker()
        try:
            yield
        finally:
            if owned:
                running.close()

    app = FastAPI(title="Yiyang Hub 医养结合", version="0.1.0", lifespan=lifespan)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(hl7v2.router)
    app.include_router(elders.router)
    app.include_router(inbound.router)
    app.include_router(fhir.router)
    return app
