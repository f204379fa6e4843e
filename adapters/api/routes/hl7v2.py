"""POST /hl7v2: one ER7 message in the body, its ACK in the answer."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from adapters.api.deps import CallerDep, HubDep, require_role

router = APIRouter(tags=["ingest"])


@router.post("/hl7v2", response_class=Response, dependencies=[require_role("hospital", "care_home")],
             responses={200: {"content": {"x-application/hl7-v2+er7": {}},
                              "description": "The HL7 ACK (AA, AE or AR)"}})
async def post_hl7v2(request: Request, hub: HubDep, caller: CallerDep) -> Response:
    """Answers with the ACK after the message and its facts are committed.

    Headers: `X-Hub-Position` (the log position of the write, for read-your-writes),
    `X-Ack-Code`, `X-Message-Id`.
    """
    raw = await request.body()
    facilities = None if caller.organisation == "local" else \
        {caller.organisation, *caller.sending_facilities}
    answer = await run_in_threadpool(hub.hl7.receive, raw, "hl7v2-http", facilities)
    hub.projector.nudge()
    headers = {"X-Ack-Code": answer.ack_code, "X-Message-Id": str(answer.receipt.message_id)}
    if answer.receipt.position is not None:
        headers["X-Hub-Position"] = str(answer.receipt.position)
    charset = "gb18030" if "18030" in answer.ack[:300] else "utf-8"
    return Response(answer.ack.encode(charset), media_type="x-application/hl7-v2+er7",
                    headers=headers)
