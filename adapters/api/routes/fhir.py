"""FHIR R4 over HTTP: ingest (`POST /fhir`, `POST /fhir/{type}`, `PUT /fhir/{type}/{id}`) and the
read facade (`metadata`, `Patient` read and search, `Patient/{id}/$everything`).

Thin: parse the request, call the intake or the read model, answer `application/fhir+json`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from adapters.api.deps import (
    CallerDep,
    HubDep,
    authorise_read,
    request_id,
    require_role,
    visible_elder_ids,
)
from adapters.fhir import facade
from adapters.fhir.intake import FhirAnswer
from adapters.fhir.outcome import operation_outcome
from event_store.readmodel import read_timeline_cursor
from hub.access import Caller, PurposeRequired
from hub.values import Problem
from mappings.fhir import reading, resources

router = APIRouter(prefix="/fhir", tags=["fhir"])

FHIR_JSON = "application/fhir+json"
MAX_COUNT = 1000
WaitFor = Annotated[int | None, Query(
    description="Answer only once the read model includes this log position (read-your-writes)")]


class FhirResponse(JSONResponse):
    """FHIR JSON, UTF-8 (Chinese stays readable)."""

    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _answer(answer: FhirAnswer) -> FhirResponse:
    return FhirResponse(answer.body, status_code=answer.status, headers=answer.headers)


async def _ingest(hub: Any, receive: Any, *args: Any) -> FhirResponse:
    """Run an intake call off the event loop; a conflict that outlasted its retries is a 409."""
    try:
        answer = await run_in_threadpool(receive, *args)
    except IntegrityError:
        return _problem(409, "identity-conflict", "too many concurrent writes to the same "
                        "elder; nothing was saved, send it again")
    hub.projector.nudge()
    return _answer(answer)


def _problem(status: int, code: str, message: str, location: str = "") -> FhirResponse:
    return FhirResponse(operation_outcome((Problem(code, message, location),)),
                        status_code=status)


async def _wait(hub: Any, wait_for: int | None) -> None:
    if wait_for:
        await run_in_threadpool(hub.projector.wait_for, wait_for)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


# ---------------------------------------------------------------------- read facade

@router.get("/metadata", response_class=FhirResponse, response_model=None)
async def capability_statement(request: Request) -> FhirResponse:
    """What this server really does: create/update of the supported types, Patient read and
    search by identifier, `$everything`, transaction and batch Bundles."""
    others = [{"type": t, "interaction": [{"code": "create"}, {"code": "update"}],
               "conditionalCreate": False}
              for t in reading.SUPPORTED_TYPES if t != "Patient"]
    patient = {
        "type": "Patient",
        "interaction": [{"code": c} for c in ("read", "search-type", "create", "update")],
        "conditionalCreate": True,
        "searchParam": [{"name": "identifier", "type": "token",
                         "documentation": "system|value"}],
        "operation": [{"name": "everything",
                       "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                       "documentation": "_since, _type, _count; paged with next links"}],
    }
    body = {
        "resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
        "date": "2026-11-23", "fhirVersion": "4.0.1", "format": [FHIR_JSON, "json"],
        "software": {"name": "Yiyang Hub 医养结合", "version": "0.1.0"},
        "implementation": {"description": "Yiyang Hub FHIR R4 facade", "url": _base(request)},
        "rest": [{"mode": "server", "resource": [patient, *others],
                  "interaction": [{"code": "transaction"}, {"code": "batch"}],
                  "documentation": "Other resource types are kept raw and answered with an "
                                   "OperationOutcome saying they are not supported."}],
    }
    return FhirResponse(facade.validated(body))


@router.get("/Patient", response_class=FhirResponse, response_model=None)
async def search_patients(request: Request, hub: HubDep, caller: CallerDep,
                          identifier: Annotated[str, Query(description="system|value")],
                          wait_for: WaitFor = None) -> FhirResponse:
    await _wait(hub, wait_for)
    system, _, value = identifier.rpartition("|")
    if system:
        system = resources.identifier_from(system, value, caller.organisation).system
    found = hub.read_model.find_elders(value, system or None)
    visible = set(visible_elder_ids(hub, caller, [e["id"] for e in found]))
    entries = []
    for item in (e for e in found if e["id"] in visible):
        if not await _may_read(request, hub, caller, item["id"]):
            continue
        document = hub.read_model.profile(item["id"])
        if document is not None:
            entries.append({"fullUrl": f"{_base(request)}/Patient/{item['id']}",
                            "resource": facade.patient(document),
                            "search": {"mode": "match"}})
    return FhirResponse({"resourceType": "Bundle", "type": "searchset", "total": len(entries),
                         "link": [{"relation": "self", "url": str(request.url)}],
                         "entry": entries})


@router.get("/Patient/{elder_id}", response_class=FhirResponse, response_model=None)
async def read_patient(request: Request, elder_id: str, hub: HubDep, caller: CallerDep,
                       wait_for: WaitFor = None) -> FhirResponse:
    await _wait(hub, wait_for)
    document = _profile(hub, elder_id) if await _may_read(request, hub, caller, elder_id) \
        else None
    if document is None:
        return _problem(404, "unknown-subject", f"no Patient {elder_id}", "Patient.id")
    return FhirResponse(facade.patient(document))


async def _may_read(request: Request, hub: Any, caller: Caller, elder_id: str) -> bool:
    """The care-relationship check and the audit record, as for every read of an elder.

    A refused read looks exactly like an unknown Patient (404)."""
    try:
        UUID(elder_id)
    except ValueError:
        return False
    try:
        return bool(await run_in_threadpool(authorise_read, hub, caller, elder_id,
                                            f"{request.method} {request.url.path}",
                                            request_id(request)))
    except PurposeRequired as error:
        raise HTTPException(403, str(error)) from error


def _profile(hub: Any, elder_id: str) -> dict[str, Any] | None:
    try:
        UUID(elder_id)
    except ValueError:
        return None
    return hub.read_model.profile(elder_id)  # type: ignore[no-any-return]


@router.get("/Patient/{elder_id}/$everything", response_class=FhirResponse, response_model=None)
async def patient_everything(
        request: Request, elder_id: str, hub: HubDep, caller: CallerDep,
        since: Annotated[datetime | None, Query(alias="_since")] = None,
        types: Annotated[str | None, Query(alias="_type")] = None,
        count: Annotated[int, Query(alias="_count", ge=1, le=MAX_COUNT)] = 100,
        cursor: Annotated[str | None, Query(alias="_cursor")] = None,
        wait_for: WaitFor = None) -> FhirResponse:
    """The elder's whole record from every source, a page at a time (flat memory)."""
    await _wait(hub, wait_for)
    document = _profile(hub, elder_id) if await _may_read(request, hub, caller, elder_id) \
        else None
    if document is None:
        return _problem(404, "unknown-subject", f"no Patient {elder_id}", "Patient.id")
    if since is not None and since.tzinfo is None:
        return _problem(400, "invalid-resource", "_since needs a time zone offset", "_since")
    wanted = [t.strip() for t in (types or "").split(",") if t.strip()]
    kinds = sorted({k for t in wanted for k in facade.KINDS_BY_TYPE.get(t, [])}) if wanted \
        else sorted(facade.BUILDERS)
    after = None
    if cursor:
        try:
            after = read_timeline_cursor(cursor)
        except ValueError:
            return _problem(400, "invalid-resource", "_cursor is not one this server gave out",
                            "_cursor")
    base = _base(request)
    entries: list[dict[str, Any]] = []
    if after is None and (not wanted or "Patient" in wanted):
        entries.append({"fullUrl": f"{base}/Patient/{elder_id}",
                        "resource": facade.patient(document)})
    rows = [] if not kinds else await run_in_threadpool(
        hub.read_model.timeline, elder_id, kinds=kinds, after=after, limit=count + 1,
        recorded_since=since)
    for row in rows[:count]:
        resource = facade.resource_for(row)
        if resource is not None:
            entries.append({"fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
                            "resource": resource})
    links = [{"relation": "self", "url": str(request.url)}]
    if len(rows) > count:
        params = dict(request.query_params)
        params["_cursor"] = rows[count - 1]["cursor"]
        params.pop("wait_for", None)
        links.append({"relation": "next", "url": str(request.url.replace_query_params(**params))})
    return FhirResponse({"resourceType": "Bundle", "type": "searchset", "link": links,
                         "entry": entries})


# ---------------------------------------------------------------------- ingest

WRITERS = [require_role("hospital", "care_home", "family_doctor")]


@router.post("", response_class=FhirResponse, response_model=None, dependencies=WRITERS)
async def post_bundle(request: Request, hub: HubDep, caller: CallerDep) -> FhirResponse:
    """A transaction (all or nothing, one save), batch (each entry alone) or collection Bundle."""
    return await _ingest(hub, hub.fhir.receive_bundle, await request.body(),
                         caller.organisation)


@router.post("/{resource_type}", response_class=FhirResponse, response_model=None,
             dependencies=WRITERS)
async def create_resource(
        resource_type: str, request: Request, hub: HubDep, caller: CallerDep,
        if_none_exist: Annotated[str | None, Header(alias="If-None-Exist")] = None
) -> FhirResponse:
    """Create; `If-None-Exist: identifier=system|value` finds an existing Patient instead."""
    return await _ingest(hub, hub.fhir.receive_resource, await request.body(),
                         caller.organisation, resource_type, None, if_none_exist)


@router.put("/{resource_type}/{logical_id}", response_class=FhirResponse, response_model=None,
            dependencies=WRITERS)
async def update_resource(resource_type: str, logical_id: str, request: Request, hub: HubDep,
                          caller: CallerDep) -> FhirResponse:
    """Update as the sender sees it: the new state is recorded as facts dated by the source."""
    return await _ingest(hub, hub.fhir.receive_resource, await request.body(),
                         caller.organisation, resource_type, logical_id)
