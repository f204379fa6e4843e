"""GET /stats: regulator statistics for any date, each formula written next to its number."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from adapters.api.deps import HubDep, require_role, today

router = APIRouter(tags=["statistics"], dependencies=[require_role("regulator")])


@router.get("/stats", response_model=dict[str, Any])
async def statistics(hub: HubDep, as_of: Annotated[date | None, Query(
        description="the day (in the hub's zone) the indicators stand at; today by default")
        ] = None,
                     recorded_by: Annotated[datetime | None, Query(
                         description="audit: count only what the hub had recorded by then")
                     ] = None) -> dict[str, Any]:
    """签约率, 重点人群签约率, 65岁+健康管理率, 高血压/糖尿病管理率与控制率, 双向转诊, 风险事件率.

    Counts only, no personal data: an organisation needs no stated purpose to read them.
    """
    day = as_of or today(hub).date()
    return await run_in_threadpool(hub.app.statistics, day, hub.settings.zone, recorded_by)
