"""Cooperation agreements (医养签约) between care homes and hospitals."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from adapters.api.deps import CallerDep, HubDep
from hub.partnerships import PartnershipExists, sign_partnership

router = APIRouter(prefix="/partnerships", tags=["referrals"])


class PartnershipIn(BaseModel):
    care_organisation: str = Field(min_length=1, description="养老机构 or community centre")
    medical_organisation: str = Field(min_length=1, description="医院 or 卫生院")
    services: list[str] = Field(default_factory=list, description="e.g. 绿色通道, 巡诊, 转诊")
    valid_from: date | None = None
    valid_until: date | None = None


class PartnershipOut(BaseModel):
    partnership_id: UUID
    position: int


@router.post("", response_model=PartnershipOut, status_code=201)
async def register_partnership(body: PartnershipIn, hub: HubDep, caller: CallerDep,
                               response: Response) -> dict[str, Any]:
    def run() -> tuple[UUID, int]:
        return sign_partnership(
            hub.app, hub.referrals.clock, care_organisation=body.care_organisation,
            medical_organisation=body.medical_organisation, services=tuple(body.services),
            valid_from=body.valid_from, valid_until=body.valid_until,
            registered_by=caller.organisation)
    try:
        partnership_id, position = await run_in_threadpool(run)
    except PartnershipExists as error:
        raise HTTPException(409, str(error)) from error
    hub.projector.nudge()
    response.headers["X-Hub-Position"] = str(position)
    return {"partnership_id": partnership_id, "position": position}


@router.get("", response_model=list[dict[str, Any]])
async def list_partnerships(hub: HubDep, caller: CallerDep, org: str,
                            wait_for: int | None = None) -> list[dict[str, Any]]:
    if wait_for:
        await run_in_threadpool(hub.projector.wait_for, wait_for)
    return hub.referrals.views.partners(org)
