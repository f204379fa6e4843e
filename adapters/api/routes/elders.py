"""Reads about elders: search by identifier, profile (now or as of an instant), timeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from adapters.api.deps import CallerDep, HubDep, ReadableElder, request_id, visible_elder_ids
from event_store.readmodel import read_timeline_cursor

router = APIRouter(prefix="/elders", tags=["elders"])

WaitFor = Annotated[int | None, Query(
    description="Answer only once the read model includes this log position (read-your-writes)")]


class MatchedIdentifier(BaseModel):
    system: str
    value: str


class ElderSummary(BaseModel):
    id: str
    name: str
    matched: list[MatchedIdentifier]


class TimelinePage(BaseModel):
    elder_id: str
    entries: list[dict[str, Any]]
    next_cursor: str | None


async def _wait(hub: Any, wait_for: int | None) -> None:
    if wait_for:
        await run_in_threadpool(hub.projector.wait_for, wait_for)


@router.get("", response_model=list[ElderSummary])
async def find_elders(request: Request, hub: HubDep, caller: CallerDep,
                      identifier: Annotated[str, Query(description="value or system|value")],
                      wait_for: WaitFor = None) -> list[dict[str, Any]]:
    """Elders holding the identifier that the caller may read; others are never revealed."""
    await _wait(hub, wait_for)
    system, _, value = identifier.rpartition("|")
    found = hub.read_model.find_elders(value, system or None)
    visible = set(visible_elder_ids(hub, caller, [e["id"] for e in found]))
    if caller.role == "regulator" and found and not caller.purpose.strip():
        raise HTTPException(403, "a regulator must state a purpose (X-Purpose header)")
    shown = [e for e in found if e["id"] in visible]
    for elder in shown:
        await run_in_threadpool(
            hub.app.record_read, organisation=caller.organisation, role=caller.role,
            elder_id=elder["id"], what="GET /elders?identifier (search)",
            purpose=caller.purpose, request_id=request_id(request),
            read_at=datetime.now(UTC), outcome="read")
    return shown


async def profile_as_it_stood(hub: Any, elder_id: UUID, as_of: datetime) -> dict[str, Any]:
    """The profile from the events the hub had recorded by `as_of` (regulators' replay)."""
    if as_of.tzinfo is None:
        raise HTTPException(422, "as_of needs a time zone offset, e.g. 2026-01-01T08:00:00+08:00")
    document = await run_in_threadpool(hub.profile_as_of, elder_id, as_of)
    if document is None:
        raise HTTPException(404, "no such elder was known at that instant")
    return {**document, "as_of": as_of.isoformat()}


@router.get("/{elder_id}/profile", response_model=dict[str, Any])
async def get_profile(elder_id: ReadableElder, hub: HubDep,
                      as_of: Annotated[datetime | None, Query(
                          description="the profile from the events the hub had recorded by then")
                      ] = None,
                      wait_for: WaitFor = None) -> dict[str, Any]:
    if as_of is not None:
        return await profile_as_it_stood(hub, elder_id, as_of)
    await _wait(hub, wait_for)
    document = hub.read_model.profile(str(elder_id))
    if document is None:
        raise HTTPException(404, "no such elder")
    return document


@router.get("/{elder_id}/timeline", response_model=TimelinePage)
async def get_timeline(elder_id: ReadableElder, hub: HubDep,
                       kind: Annotated[list[str] | None, Query()] = None,
                       channel: Annotated[list[str] | None, Query()] = None,
                       source_kind: Annotated[list[str] | None, Query(
                           description="hospital | family_doctor | care_home")] = None,
                       since: datetime | None = None, until: datetime | None = None,
                       cursor: str | None = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                       wait_for: WaitFor = None) -> dict[str, Any]:
    await _wait(hub, wait_for)
    if hub.read_model.profile(str(elder_id)) is None:
        raise HTTPException(404, "no such elder")
    after = None
    if cursor:
        try:
            after = read_timeline_cursor(cursor)
        except ValueError as error:
            raise HTTPException(422, "cursor is not one this API gave out") from error
    entries = hub.read_model.timeline(str(elder_id), kinds=kind, channels=channel, since=since,
                                      until=until, after=after, limit=limit + 1,
                                      source_kinds=source_kind)
    next_cursor = entries[limit - 1]["cursor"] if len(entries) > limit else None
    return {"elder_id": str(elder_id), "entries": entries[:limit], "next_cursor": next_cursor}
