"""For administrators: the organisations that use the hub (never any health data)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from adapters.api.deps import HubDep, require_role

router = APIRouter(tags=["organisations"], dependencies=[require_role("admin", "regulator")])


@router.get("/organisations", response_model=list[dict[str, Any]])
def list_organisations(hub: HubDep) -> list[dict[str, Any]]:
    return hub.read_model.organisations()
