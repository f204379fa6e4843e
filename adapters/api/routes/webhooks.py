"""Webhook subscriptions, and the outbox of deliveries (pending, delivered, parked)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from adapters.api.deps import CallerDep, HubDep
from hub.partnerships import InvalidSubscription, subscribe

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class SubscriptionIn(BaseModel):
    url: str


class SubscriptionOut(BaseModel):
    subscription_id: UUID
    organisation: str
    url: str


@router.post("", response_model=SubscriptionOut, status_code=201)
async def subscribe_webhook(body: SubscriptionIn, hub: HubDep, caller: CallerDep,
                            response: Response) -> dict[str, Any]:
    """The caller's organisation hears, at this URL, of every change to its referrals."""
    try:
        subscription_id, position = await run_in_threadpool(
            subscribe, hub.app, hub.referrals.clock, caller.organisation, body.url)
    except InvalidSubscription as error:
        raise HTTPException(422, str(error)) from error
    if position is None:
        response.status_code = 200
    else:
        hub.projector.nudge()
        response.headers["X-Hub-Position"] = str(position)
    return {"subscription_id": subscription_id, "organisation": caller.organisation,
            "url": body.url}


@router.get("", response_model=list[dict[str, Any]])
async def list_subscriptions(hub: HubDep, caller: CallerDep, org: str | None = None,
                             wait_for: int | None = None) -> list[dict[str, Any]]:
    if wait_for:
        await run_in_threadpool(hub.projector.wait_for, wait_for)
    return hub.referrals.views.subscriptions(org)


@router.get("/deliveries", response_model=list[dict[str, Any]])
async def list_deliveries(hub: HubDep, caller: CallerDep,
                          status: Annotated[Literal["pending", "delivered", "parked"] | None,
                                            Query()] = None,
                          org: str | None = None,
                          limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                          wait_for: int | None = None) -> list[dict[str, Any]]:
    """Every delivery with its attempts and last error; parked ones wait for a retry."""
    if wait_for:
        await run_in_threadpool(hub.projector.wait_for, wait_for)
    return hub.referrals.views.deliveries(status, org, limit)


@router.post("/deliveries/{delivery_id}/retry", status_code=202)
async def retry_delivery(delivery_id: UUID, hub: HubDep, caller: CallerDep) -> dict[str, str]:
    """Put a parked delivery back in the queue once the receiver is mended."""
    if not hub.referrals.views.requeue(str(delivery_id), hub.referrals.clock.now()):
        raise HTTPException(409, "only a parked delivery can be retried")
    return {"delivery_id": str(delivery_id), "status": "pending"}
