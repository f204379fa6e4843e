"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.api.guards import BodyGuard, document_refusals, install_database_handler
from adapters.api.routes import (
    audit,
    elders,
    erasure,
    fhir,
    hl7v2,
    identity,
    inbound,
    metrics,
    organisations,
    partnerships,
    records,
    referrals,
    stats,
    webhooks,
)
from adapters.bootstrap import Hub, bootstrap, settle_service_process
from adapters.settings import Settings
from adapters.web import care_pages, pages


def app_from_environment() -> FastAPI:
    """The app for `uvicorn --factory` worker processes, configured from YYHUB_ variables."""
    return create_app(Settings(), service_process=True)


def create_app(settings: Settings | None = None, hub: Hub | None = None,
               background_worker: bool = True, service_process: bool = False) -> FastAPI:
    """The API over a hub built from settings (or over a given hub, which the caller owns);
    `service_process` when the app is the whole of a long-running process."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = hub is None
        running = hub or bootstrap(settings)
        app.state.hub = running
        if service_process:
            settle_service_process()
        if background_worker and running.settings.projection_worker:
            running.start_worker()
        try:
            yield
        finally:
            if owned:
                running.close()

    app = FastAPI(title="Yiyang Hub 医养结合", version="0.1.0", lifespan=lifespan)
    limits = settings or (hub.settings if hub is not None else Settings())
    app.add_middleware(BodyGuard, max_bytes=limits.http_max_body_bytes)
    install_database_handler(app)
    document_refusals(app)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(hl7v2.router)
    app.include_router(elders.router)
    app.include_router(inbound.router)
    app.include_router(referrals.router)
    app.include_router(partnerships.router)
    app.include_router(webhooks.router)
    app.include_router(audit.router)
    app.include_router(organisations.router)
    app.include_router(erasure.router)
    app.include_router(identity.router)
    app.include_router(metrics.router)
    app.include_router(stats.router)
    app.include_router(pages.router)
    app.include_router(care_pages.router)

    app.add_exception_handler(StarletteHTTPException, pages.http_error)  # type: ignore[arg-type]

    @app.exception_handler(pages.LoginNeeded)
    async def login_needed(request: Request, exc: pages.LoginNeeded) -> Response:
        return RedirectResponse("/ui/login", status_code=303)
    app.include_router(records.router)
    app.include_router(fhir.router)
    return app
