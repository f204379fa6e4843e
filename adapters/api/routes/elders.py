"""Reads about elders: search by identifier, profile (now or as of an instant), timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from hub.projections import profile as profile_fold

from adapters.api.deps import CallerDep, HubDep

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
async def find_elders(hub: HubDep, caller: CallerDep,
                      identifier: Annotated[str, Query(description="value or system|value")],
                      wait_for: WaitFor = None) -> list[dict[str, Any]]:
    await _wait(hub, wait_for)
    system, _, value = identifier.rpartition("|")
    return hub.read_model.find_elders(value, system or None)


@router.get("/{elder_id}/profile", response_model=dict[str, Any])
async def get_profile(elder_id: UUID, hub: HubDep, caller: CallerDep,
                      as_of: Annotated[datetime | None, Query(
                          description="the profile from the events the hub had recorded by then")
                      ] = None,
                      wait_for: WaitFor = None) -> dict[str, Any]:
    if as_of is not None:
        if as_of.tzinfo is None:
            raise HTTPException(422, "as_of needs a time zone offset, e.g. 2026-01-01T08:00:00+08:00")
        events = await run_in_threadpool(hub.app.elder_events, elder_id)
        known = [e for e in events if e.timestamp <= as_of]
        if not known:
            raise HTTPException(404, "no such elder was known at that instant")
        return {**profile_fold.fold(elder_id, known), "as_of": as_of.isoformat()}
    await _wait(hub, wait_for)
    document = hub.read_model.profile(str(elder_id))
    if document is None:
        raise HTTPException(404, "no such elder")
    return document


@router.get("/{elder_id}/timeline", response_model=TimelinePage)
async def get_timeline(elder_id: UUID, hub: HubDep, caller: CallerDep,
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
            at, position = cursor.rsplit("~", 1)
            after = (datetime.fromisoformat(at), int(position))
        except ValueError as error:
            raise HTTPException(422, "cursor is not one this API gave out") from error
    entries = hub.read_model.timeline(str(elder_id), kinds=kind, channels=channel, since=since,
                                      until=until, after=after, limit=limit + 1,
                                      source_kinds=source_kind)
    next_cursor = entries[limit - 1]["cursor"] if len(entries) > limit else None
    return {"elder_id": str(elder_id), "entries": entries[:limit], "next_cursor": next_cursor}
