"""Guards at the HTTP door: database outages answer 503 + Retry-After, bodies have a size cap,
and JSON bodies a nesting cap — so no caller can make the hub answer 500 or exhaust memory.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from event_store.retry import TRANSIENT
from mappings.limits import json_depth_exceeds, too_deep_message

log = logging.getLogger("yyhub.guards")

DATABASE_ERRORS = (*TRANSIENT, psycopg.OperationalError)
RETRY_AFTER_SECONDS = 5
REFUSED = {"too_large": 0, "too_deep": 0, "database_unavailable": 0}  # for /metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def install_database_handler(app: FastAPI) -> None:
    """A database that is down (after the bounded retries) is the caller's cue to resend later:
    503 with Retry-After, never a 500 and never a success for something not committed."""

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        REFUSED["database_unavailable"] += 1
        log.warning("database unavailable for %s %s: %s", request.method, request.url.path,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return JSONResponse({"error": "database-unavailable",
                             "detail": "the hub's database is unavailable; nothing was recorded, "
                                       "send again later"},
                            status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, unavailable)


# Doors whose intake checks nesting itself and keeps a refused body with its reason, as it keeps
# any bad message (FHIR intake; the care-record doors in routes/records.py): refusing here
# would drop the body unkept.
KEEPING_DOORS = ("/fhir", "/contracts", "/care-logs", "/files")


def _checks_depth_itself(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith(KEEPING_DOORS)


class BodyGuard:
    """ASGI middleware: refuse bodies over `max_bytes` (413) and JSON nested too deep (400;
    bodies for `KEEPING_DOORS` are checked, and kept when refused, by their intake).

    The body is read up to the cap only, then replayed to the app, so an oversize upload costs
    at most `max_bytes` of memory whatever its Content-Length claims.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send, 413, "request-too-large", self._too_large())
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send, 413, "request-too-large", self._too_large())
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if b"json" in headers.get(b"content-type", b"") and not _checks_depth_itself(scope) \
                and json_depth_exceeds(body):
            REFUSED["too_deep"] += 1
            await self._refuse(scope, send, 400, "json-too-deep", too_deep_message())
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        REFUSED["too_large"] += 1
        return f"the request body is larger than the limit of {self.max_bytes} bytes"

    async def _refuse(self, scope: Scope, send: Send, status: int, code: str,
                      detail: str) -> None:
        log.warning("%s %s refused (%d %s): %s", scope["method"], scope["path"], status, code,
                    detail)
        body = json.dumps({"error": code, "detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def document_refusals(app: FastAPI) -> None:
    """Make the OpenAPI document tell the truth about refusals: routes answer 422 with a plain
    reason (a string or an object) as well as FastAPI's validation list, and any operation may
    answer 503 (database unavailable) or, with a body, 413 (too large)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.get("components", {}).get("schemas", {})
        detail = schemas.get("HTTPValidationError", {}).get("properties", {}).get("detail")
        if detail is not None and "anyOf" not in detail:
            schemas["HTTPValidationError"]["properties"]["detail"] = {
                "title": "Detail", "anyOf": [
                    {"type": "array", "items": {"anyOf": [
                        {"$ref": "#/components/schemas/ValidationError"},
                        {"type": "object", "description": "a problem: location and message"}]}},
                    {"type": "string"}, {"type": "object"}]}
        refusal = {"content": {"application/json": {"schema": {"type": "object", "properties": {
            "error": {"type": "string"}, "detail": {"type": "string"}}}}}}
        for operations in document.get("paths", {}).values():
            for method, operation in operations.items():
                answers = operation.setdefault("responses", {})
                answers.setdefault("503", {"description": "the database is unavailable; nothing "
                                           "was recorded; send again after Retry-After seconds",
                                           **refusal})
                if method in ("post", "put", "patch"):
                    answers.setdefault("413", {"description": "the body is over the size limit",
                                               **refusal})
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
