"""For regulators: the read-audit log, history as it stood at any instant, and the seal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from adapters.api.deps import HubDep, ReadableElder, require_role
from adapters.api.routes.elders import profile_as_it_stood
from hub.projections import timeline as timeline_fold
from hub.values import plain

router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[require_role("regulator")])

AsOf = Annotated[datetime, Query(description="an instant with offset, e.g. 2026-03-05T12:00:00+08:00")]


def _known_by(hub: Any, elder_id: Any, as_of: datetime) -> list[Any]:
    if as_of.tzinfo is None:
        raise HTTPException(422, "as_of needs a time zone offset")
    events = [e for e in hub.app.elder_events(elder_id) if e.timestamp <= as_of]
    if not events:
        raise HTTPException(404, "no such elder was known at that instant")
    return events


@router.get("", response_model=list[dict[str, Any]])
def read_audit(hub: HubDep, organisation: str | None = None, elder_id: str | None = None,
               since: datetime | None = None, until: datetime | None = None,
               limit: Annotated[int, Query(ge=1, le=5000)] = 200,
               wait_for: int | None = None) -> list[dict[str, Any]]:
    """Who read whose data, when, why, with which request id (newest first)."""
    if wait_for:
        hub.projector.wait_for(wait_for)
    return hub.read_model.audit(organisation=organisation, elder_id=elder_id, since=since,
                                until=until, limit=limit)


@router.get("/elders/{elder_id}/profile", response_model=dict[str, Any])
async def profile_as_of(elder_id: ReadableElder, hub: HubDep, as_of: AsOf) -> dict[str, Any]:
    return await profile_as_it_stood(hub, elder_id, as_of)


@router.get("/elders/{elder_id}/timeline", response_model=dict[str, Any])
async def timeline_as_of(elder_id: ReadableElder, hub: HubDep, as_of: AsOf) -> dict[str, Any]:
    events = await run_in_threadpool(_known_by, hub, elder_id, as_of)
    return {"elder_id": str(elder_id), "as_of": as_of.isoformat(),
            "entries": timeline_fold.timeline(events)}


@router.get("/elders/{elder_id}/history")
def history(elder_id: ReadableElder, hub: HubDep) -> StreamingResponse:
    """Every event of the elder's stream with its provenance, as NDJSON."""

    def lines() -> Iterator[bytes]:
        for event in hub.app.events.get(elder_id):
            body = {k: plain(v) for k, v in event.__dict__.items()
                    if k not in ("originator_id",)}
            yield (json.dumps({"type": type(event).__qualname__, "elder_id": str(elder_id),
                               **body}, ensure_ascii=False) + "\n").encode()

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.get("/verify", response_model=dict[str, Any])
def verify(hub: HubDep) -> dict[str, Any]:
    """Recompute the seal over the event log: intact, or the first altered/missing position.

    Verifying never seals: events recorded since the last seal are reported as unsealed.
    """
    result = hub.sealer.verify()
    return {**result.__dict__, "report": result.describe()}
