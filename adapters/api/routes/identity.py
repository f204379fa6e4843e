"""一码通用 review: look-alike candidates, and merges and unmerges decided by an operator.

Regulators (the city's 数据治理 office) and hub administrators decide; every decision is an event
naming who decided and why. Writes answer with `X-Hub-Position` for read-your-writes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from adapters.api.deps import CallerDep, HubDep, require_role
from adapters.api.routes.elders import WaitFor, _wait
from hub.errors import HubError

router = APIRouter(prefix="/identity", tags=["identity"],
                   dependencies=[require_role("regulator", "admin")])


class Decision(BaseModel):
    reason: str = Field(description="why: what the operator checked (e.g. 电话核实为同一人)")


class MergeRequest(Decision):
    survivor: UUID = Field(description="the elder who keeps the person")
    merged: UUID = Field(description="the elder merged into the survivor")


class UnmergeRequest(Decision):
    elder_id: UUID = Field(description="an elder that was merged into another")


def _decided(position: int | None, body: dict[str, Any], response: Response) -> dict[str, Any]:
    if position is not None:
        response.headers["X-Hub-Position"] = str(position)
    return body


@router.get("/candidates", response_model=list[dict[str, Any]])
async def list_candidates(hub: HubDep, status: str = "open",
                          wait_for: WaitFor = None) -> list[dict[str, Any]]:
    """Look-alike pairs (score, grade and reasons), found up to now, highest score first."""
    await _wait(hub, wait_for)
    found = await run_in_threadpool(hub.identity.run)
    await _wait(hub, found)
    return hub.read_model.candidates(status or None)


async def _decide(hub: Any, caller: Any, candidate_id: UUID, link: bool, decision: Decision,
                  response: Response) -> dict[str, Any]:
    try:
        position = await run_in_threadpool(
            lambda: hub.app.decide_candidate(
                candidate_id, link=link, decided_by=caller.organisation,
                reason=decision.reason, decided_at=datetime.now(UTC)))
    except HubError as error:
        raise HTTPException(409 if getattr(error, "code", "") == "candidate-decided" else 404,
                            str(error)) from error
    return _decided(position, {"candidate_id": str(candidate_id),
                               "status": "linked" if link else "distinct"}, response)


@router.post("/candidates/{candidate_id}/link")
async def link_candidate(candidate_id: UUID, decision: Decision, hub: HubDep,
                         caller: CallerDep, response: Response) -> dict[str, Any]:
    """The two are one person: the newcomer is merged into the elder known first."""
    return await _decide(hub, caller, candidate_id, True, decision, response)


@router.post("/candidates/{candidate_id}/distinct")
async def distinct_candidate(candidate_id: UUID, decision: Decision, hub: HubDep,
                             caller: CallerDep, response: Response) -> dict[str, Any]:
    """The two are different people; the pair is not proposed again."""
    return await _decide(hub, caller, candidate_id, False, decision, response)


@router.post("/merges")
async def merge(request: MergeRequest, hub: HubDep, caller: CallerDep,
                response: Response) -> dict[str, Any]:
    """Merge two elders found to be one person outside the candidate list."""
    try:
        position = await run_in_threadpool(
            lambda: hub.app.merge(request.survivor, request.merged,
                                  decided_by=caller.organisation, reason=request.reason,
                                  occurred_at=datetime.now(UTC)))
    except HubError as error:
        raise HTTPException(404, str(error)) from error
    return _decided(position, {"survivor": str(request.survivor),
                               "merged": str(request.merged),
                               "already_one_person": position is None}, response)


@router.post("/unmerges")
async def unmerge(request: UnmergeRequest, hub: HubDep, caller: CallerDep,
                  response: Response) -> dict[str, Any]:
    """Undo a wrong merge: both are exactly what their own records say again."""
    try:
        position = await run_in_threadpool(
            lambda: hub.app.unmerge(request.elder_id, decided_by=caller.organisation,
                                    reason=request.reason, occurred_at=datetime.now(UTC)))
    except HubError as error:
        raise HTTPException(409, str(error)) from error
    return _decided(position, {"elder_id": str(request.elder_id), "unmerged": True}, response)
