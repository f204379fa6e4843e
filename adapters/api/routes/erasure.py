"""POST /elders/{id}/erasure: PIPL art. 47 — freeze the elder and destroy their personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from adapters.api.deps import CallerDep, HubDep, require_role

router = APIRouter(tags=["erasure"], dependencies=[require_role("regulator", "admin")])


class ErasureRequest(BaseModel):
    requested_by: str = Field(description="who asked: the person, a guardian, a court …")
    legal_basis: str = Field(description="e.g. 个人信息保护法第四十七条 撤回同意")


class ErasureAnswer(BaseModel):
    elder_id: str
    contact_data: str
    clinical_data_retained_until: datetime


@router.post("/elders/{elder_id}/erasure", response_model=ErasureAnswer)
async def erase(elder_id: UUID, request: ErasureRequest, hub: HubDep,
                caller: CallerDep) -> dict[str, Any]:
    until = await run_in_threadpool(
        hub.eraser.erase, elder_id, f"{request.requested_by} (via {caller.organisation})",
        request.legal_basis)
    return {"elder_id": str(elder_id), "contact_data": "destroyed",
            "clinical_data_retained_until": until}
