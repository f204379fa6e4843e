"""POST /contracts, /care-logs and /files: family-doctor and care-home records in.

Answers after the records and their facts are committed: per record its outcome, per bad record
its row, column and reason. A contract refused because another team's contract is in force
answers 409; when every record is refused for another reason, 422; a file that cannot be read as
a whole answers 422 and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from adapters.api.deps import Caller, CallerDep, HubDep, require_role
from adapters.records_intake import IntakeAnswer
from mappings.errors import UnreadableMessage
from mappings.limits import json_depth_exceeds, too_deep_message
from mappings.record_files import Row, json_records, read_json, unreadable

router = APIRouter(tags=["ingest"])


class ProblemOut(BaseModel):
    code: str
    location: str
    reason: str


class RejectedRecord(BaseModel):
    row: int
    record_id: str
    message_id: str
    problems: list[ProblemOut]


class RecordOutcome(BaseModel):
    row: int
    record_id: str
    outcome: str
    message_id: str
    elder_ids: list[str]
    warnings: list[ProblemOut] = []


class IntakeResult(BaseModel):
    """Counts, then per bad record where and why; `position` is for `wait_for` on reads."""

    accepted: int
    duplicates: int
    rejected: list[RejectedRecord]
    position: int
    records: list[RecordOutcome]


ANSWERS: dict[int | str, dict[str, Any]] = {
    409: {"model": IntakeResult,
          "description": "a contract conflicts with one in force (one team at a time)"},
    422: {"description": "the file cannot be read (nothing was recorded), or every record was "
                         "refused (each is kept with its reasons)"},
}


_RECORDS_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "description": "one record, a list of records, or {\"records\": [...]} — see "
                   "docs/records.md and docs/schemas/record.schema.json",
    "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}}}}}
_FILE_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "format": "binary"}},
    "application/json": {"schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}}}}}}


def _answer(hub: Any, answer: IntakeAnswer) -> JSONResponse:
    hub.projector.nudge()
    status = 200
    if any(r.conflict for r in answer.rows):
        status = 409
    elif answer.rows and len(answer.rejected) == len(answer.rows):
        status = 422
    return JSONResponse(answer.as_dict(), status_code=status,
                        headers={"X-Hub-Position": str(answer.position)})


def _unreadable(error: UnreadableMessage) -> HTTPException:
    detail = {"error": "; ".join(p.message for p in error.problems)}
    if error.message_id is None:
        return HTTPException(422, detail)
    detail["message_id"] = str(error.message_id)  # kept as rejected: GET /inbound/{id}
    return HTTPException(422, detail, headers={"X-Hub-Position": str(error.position or 0)})


def _own(caller: Caller) -> set[str] | None:
    """The organisation codes a caller may send records for (None in local development)."""
    return None if caller.organisation == "local" else {caller.organisation,
                                                         *caller.sending_facilities}


async def _receive_json(request: Request, hub: Any, default_type: str,
                        caller: Caller) -> JSONResponse:
    try:
        rows = await _json_rows(request, default_type)
    except UnreadableMessage as error:
        await run_in_threadpool(hub.records.keep_unreadable, await request.body(),
                                caller.organisation, "api", error)
        raise _unreadable(error) from error
    return _answer(hub, await run_in_threadpool(hub.records.receive_rows, rows, "api", None,
                                                _own(caller)))


async def _json_rows(request: Request, default_type: str) -> list[Row]:
    body = await request.body()
    if json_depth_exceeds(body):
        raise unreadable(too_deep_message())
    try:
        data = json.loads(body)
        records = json_records(data)
    except json.JSONDecodeError as error:
        raise unreadable(f"the body is not valid JSON: {error.msg}") from error
    except UnicodeDecodeError as error:  # found by schemathesis: a non-UTF-8 body was a 500
        raise unreadable(f"the body is not UTF-8 JSON: {error.reason}") from error
    for record in records:
        if default_type and not ({"record_type", "记录类型"} & set(record)):
            record["record_type"] = default_type
    return read_json(json.dumps(records, ensure_ascii=False))


@router.post("/contracts", response_model=IntakeResult, responses=ANSWERS,
             openapi_extra=_RECORDS_BODY, dependencies=[require_role("family_doctor")])
async def post_contracts(request: Request, hub: HubDep, caller: CallerDep) -> JSONResponse:
    """Family-doctor contract records (签约/续约/解约/到期): one JSON record or a list."""
    return await _receive_json(request, hub, "contract", caller)


@router.post("/care-logs", response_model=IntakeResult, responses=ANSWERS,
             openapi_extra=_RECORDS_BODY,
             dependencies=[require_role("care_home", "family_doctor")])
async def post_care_logs(request: Request, hub: HubDep, caller: CallerDep) -> JSONResponse:
    """Care-home logs and family-doctor follow-ups: one JSON record or a list."""
    return await _receive_json(request, hub, "", caller)


@router.post("/files", response_model=IntakeResult, responses=ANSWERS,
             openapi_extra=_FILE_BODY, dependencies=[require_role("care_home", "family_doctor")])
async def post_file(request: Request, hub: HubDep, caller: CallerDep) -> JSONResponse:
    """A CSV or JSON file as the body (with its content type) or as a multipart upload."""
    content_type = request.headers.get("content-type", "")
    filename = request.headers.get("x-filename", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = next((v for v in form.values() if hasattr(v, "read")), None)
        if upload is None:
            raise HTTPException(422, {"error": "the upload holds no file"})
        data = await upload.read()  # type: ignore[union-attr]
        content_type = upload.content_type or ""  # type: ignore[union-attr]
        filename = upload.filename or ""  # type: ignore[union-attr]
    else:
        data = await request.body()
    try:
        answer = await run_in_threadpool(hub.records.receive_file, data, content_type, filename,
                                         "file", None, _own(caller), caller.organisation)
    except UnreadableMessage as error:
        raise _unreadable(error) from error
    return _answer(hub, answer)
