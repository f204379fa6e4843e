"""POST /hl7v2: one ER7 message (or an FHS/BHS batch) in the body, its ACK(s) in the answer."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from adapters.api.deps import CallerDep, HubDep, require_role
from adapters.hl7v2.ack import encode_ack
from adapters.hl7v2.batch import batch_ack, is_batch, split_batch
from adapters.hl7v2.intake import Hl7Answer

router = APIRouter(tags=["ingest"])
_SEVERITY = {"AA": 0, "AE": 1, "AR": 2}


@router.post("/hl7v2", response_class=Response, dependencies=[require_role("hospital", "care_home")],
             responses={200: {"content": {"x-application/hl7-v2+er7": {}},
                              "description": "The HL7 ACK (AA, AE or AR), or a batch of ACKs"}})
async def post_hl7v2(request: Request, hub: HubDep, caller: CallerDep) -> Response:
    """Answers with the ACK after the message and its facts are committed.

    A batch is answered with one ACK per message, in order, in a BHS/BTS (and FHS/FTS)
    envelope. Headers: `X-Hub-Position` (the log position of the last write, for
    read-your-writes), `X-Ack-Code` (the worst code in a batch), `X-Message-Id` (single only).
    """
    raw = await request.body()
    facilities = None if caller.organisation == "local" else \
        {caller.organisation, *caller.sending_facilities}
    if is_batch(raw):
        batch = split_batch(raw)
        answers: list[Hl7Answer] = [await run_in_threadpool(hub.hl7.receive, m, "hl7v2-http",
                                                              facilities)
                                    for m in batch.messages]
        text = batch_ack([a.ack for a in answers], batch.file)
        headers = {"X-Ack-Code": max((a.ack_code for a in answers), key=_SEVERITY.get,
                                     default="AA"),
                   "X-Batch-Count": str(len(answers))}
    else:
        answer = await run_in_threadpool(hub.hl7.receive, raw, "hl7v2-http", facilities)
        answers, text = [answer], answer.ack
        headers = {"X-Ack-Code": answer.ack_code, "X-Message-Id": str(answer.receipt.message_id)}
    hub.projector.nudge()
    positions = [a.receipt.position for a in answers if a.receipt.position is not None]
    if positions:
        headers["X-Hub-Position"] = str(max(positions))
    return Response(encode_ack(text), media_type="x-application/hl7-v2+er7",
                    headers=headers)
