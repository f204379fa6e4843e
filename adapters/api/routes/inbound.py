"""GET /inbound: received messages and their outcomes, for finding what was quarantined."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from adapters.api.deps import CallerDep, HubDep

router = APIRouter(tags=["inbound"])


@router.get("/inbound", response_model=list[dict[str, Any]])
async def list_inbound(hub: HubDep, caller: CallerDep,
                       outcome: Annotated[str | None, Query(
                           pattern="^(accepted|rejected|received)$")] = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                       wait_for: int | None = None) -> list[dict[str, Any]]:
    """A regulator sees every kept message; a sender sees its own facilities' messages."""
    if wait_for:
        hub.projector.wait_for(wait_for)
    rows = hub.read_model.inbound(outcome, limit)
    if caller.role == "regulator":
        return rows
    own = {caller.organisation, *caller.sending_facilities}
    return [r for r in rows if r["sender"].rpartition("^")[2] in own]
