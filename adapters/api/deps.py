"""Dependencies shared by routes: the hub, the authenticated caller, and elder access.

Authentication: each organisation holds an API key (`yyhub orgs add`), sent as
`Authorization: Bearer <key>`; the hub keeps only its SHA-256. A regulator states a purpose in
`X-Purpose`. Every read of an elder's data passes `readable_elder`, which checks the care
relationship and writes the audit record.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import unquote
from uuid import UUID

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from adapters.bootstrap import Hub
from hub.access import (
    AccessDenied,
    Caller,
    PurposeRequired,
    Relationship,
    check_may_read_elder,
    may_read_elder,
)

UNAUTHENTICATED = {"WWW-Authenticate": "Bearer"}


def key_hash(key: str) -> str:
    """Keys are 256-bit random tokens, so a plain SHA-256 is a safe way to store them."""
    return hashlib.sha256(key.encode()).hexdigest()


async def get_hub(request: Request) -> Hub:
    return request.app.state.hub  # type: ignore[no-any-return]


HubDep = Annotated[Hub, Depends(get_hub)]


SESSION_COOKIE = "yyhub_key"  # web pages: the same key, held in an HttpOnly cookie
PURPOSE_COOKIE = "yyhub_purpose"


def get_caller(request: Request, hub: Hub) -> Caller:
    """The organisation behind the request's key (bearer header, or the web session cookie);
    401 without a valid one."""
    key, purpose = _presented_key(request, hub)
    if not key:
        return _development_caller(purpose)
    caller = authenticate(hub, key, purpose)
    if caller is None:
        raise HTTPException(401, "unknown or revoked key", headers=UNAUTHENTICATED)
    return caller


async def current_caller(request: Request, hub: HubDep) -> Caller:
    """`get_caller` for routes: a key found in the last few seconds (every request of a busy
    sender) is answered on the event loop; any other is looked up in a worker thread."""
    key, purpose = _presented_key(request, hub)
    if key:
        known = hub.read_model.known_organisation(key_hash(key))
        if known is not None:
            return _caller(known, purpose)
    return await run_in_threadpool(get_caller, request, hub)


def _presented_key(request: Request, hub: Hub) -> tuple[str, str]:
    """The key the request presents and its stated purpose; 401 if it presents none ("" when
    authentication is off)."""
    purpose = unquote(request.headers.get("X-Purpose", "")
                      or request.cookies.get(PURPOSE_COOKIE, ""))
    if not hub.settings.auth_required:
        return "", purpose
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        key, scheme = request.cookies.get(SESSION_COOKIE, ""), "bearer"
    if not key.strip():
        raise HTTPException(401, "send an organisation key as 'Authorization: Bearer <key>'",
                            headers=UNAUTHENTICATED)
    return key.strip(), purpose


def _development_caller(purpose: str) -> Caller:
    return Caller("local", "regulator", "development (authentication off)",
                  purpose or "development")


def authenticate(hub: Hub, key: str, purpose: str = "") -> Caller | None:
    organisation = hub.read_model.organisation_by_key_hash(key_hash(key))
    return None if organisation is None else _caller(organisation, purpose)


def _caller(organisation: dict[str, Any], purpose: str) -> Caller:
    return Caller(organisation["code"], organisation["role"], organisation["name"], purpose,
                  tuple(organisation["sending_facilities"]))


CallerDep = Annotated[Caller, Depends(current_caller)]


def require_role(*roles: str):  # type: ignore[no-untyped-def]
    """A dependency that lets only the given roles through (403 otherwise)."""

    async def check(caller: CallerDep) -> Caller:
        if caller.role not in roles and not (caller.organisation == "local"):
            raise HTTPException(403, f"this needs the role {' or '.join(roles)}")
        return caller

    return Depends(check)


def request_id(request: Request) -> str:
    return request.headers.get("X-Request-Id") or uuid.uuid4().hex


def relationships_of(hub: Hub, elder_id: str) -> list[Relationship]:
    return [Relationship(r["organisation"], r["kind"], r["valid_from"], r["valid_to"])
            for r in hub.read_model.relationships(elder_id)]


def today(hub: Hub) -> datetime:
    """Now in the hub's zone, from the hub's clock (tests set it; access rules follow it)."""
    return hub.clock.now().astimezone(hub.settings.zone)


async def readable_elder(elder_id: UUID, request: Request, hub: HubDep,
                         caller: CallerDep) -> UUID:
    """The elder in the path, if the caller may read them; every attempt is audited.

    A refused read answers 404, exactly as for an elder that does not exist, so nobody learns
    that an elder they may not read is in the hub.
    """
    wait_for = request.query_params.get("wait_for")
    if wait_for and wait_for.isdigit():
        await run_in_threadpool(hub.projector.wait_for, int(wait_for))
    try:
        allowed = await run_in_threadpool(authorise_read, hub, caller, str(elder_id),
                                          f"{request.method} {request.url.path}",
                                          request_id(request))
    except PurposeRequired as error:
        raise HTTPException(403, str(error)) from error
    if not allowed:
        raise HTTPException(404, "no such elder")
    return elder_id


def authorise_read(hub: Hub, caller: Caller, elder_id: str, what: str, request: str) -> bool:
    """Check the care relationship and audit the attempt (API and web pages alike)."""
    outcome = "read"
    try:
        check_may_read_elder(caller, relationships_of(hub, elder_id), today(hub).date())
    except AccessDenied:
        outcome = "denied"
    hub.app.record_read(organisation=caller.organisation, role=caller.role, elder_id=elder_id,
                        what=what, purpose=caller.purpose, request_id=request,
                        read_at=datetime.now(UTC), outcome=outcome)
    return outcome == "read"


ReadableElder = Annotated[UUID, Depends(readable_elder)]


def visible_elder_ids(hub: Hub, caller: Caller, elder_ids: list[str]) -> list[str]:
    """Of these elders, the ones the caller may read (searches never reveal the others)."""
    day = today(hub).date()
    return [e for e in elder_ids if may_read_elder(caller, relationships_of(hub, e), day)]
