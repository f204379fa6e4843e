"""Two-way referral over HTTP: request, the steps of the state machine, worklists and the packet.

Commands answer with the log position in `X-Hub-Position`; reads accept `wait_for`. A step that
the referral's state does not allow is answered 409 with the current state.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from adapters.api.deps import Caller, CallerDep, HubDep, authorise_read, request_id
from adapters.bootstrap import Hub
from hub.errors import ElderNotFound
from hub.referrals import (
    STATUSES,
    ConcurrentChange,
    DuplicateReferral,
    InvalidReferral,
    InvalidTransition,
    NotAParty,
    ReferralForm,
    ReferralNotFound,
    ReturnForm,
    StepResult,
    handover_packet,
)
from mappings.errors import MappingError
from mappings.referral_bundle import bundle_from_referral, referral_from_service_request

router = APIRouter(prefix="/referrals", tags=["referrals"])

WaitFor = Annotated[int | None, Query(
    description="Answer only once the read model includes this log position (read-your-writes)")]
FHIR_JSON = "application/fhir+json"
LOCAL = "local"  # a caller that named no organisation (until credentials exist: local use)


class ReferralIn(BaseModel):
    """The 转诊单 as the sender fills it in; the elder by hub id or by an identifier."""

    number: str = Field(min_length=1, max_length=100, description="转诊单号, unique per sender")
    reason: str = Field(min_length=1, description="转出原因")
    elder_id: UUID | None = None
    identifier: str | None = Field(None, description="value or system|value, e.g. a 身份证号")
    urgency: Literal["urgent", "routine"] = "routine"
    to_organisation: str = Field("", description="转入医院; empty sends it to the city platform")
    diagnosis: str = ""
    department: str = Field("", description="建议科室")
    tests_done: list[str] = Field(default_factory=list, description="检验检查项目及结果")
    requesting_doctor: str = ""
    notes: str = Field("", description="注意事项")


class AcceptIn(BaseModel):
    receiving_doctor: str = Field("", description="接诊医生")
    appointment: str = Field("", description="预约信息 / 号源")
    bed: str = Field("", description="病区床位")
    note: str = ""


class ReasonIn(BaseModel):
    reason: str = ""


class ArriveIn(BaseModel):
    visit_number: str = Field("", description="门诊号 / 住院号")


class CompleteIn(BaseModel):
    treatment_result: str = Field("", description="治疗结果")


class ReturnIn(BaseModel):
    """The return (down) referral: what the care home needs to take the elder back."""

    discharge_summary: str = Field(min_length=1, description="出院小结")
    treatment_result: str = Field("", description="治疗结果")
    rehabilitation_advice: str = Field("", description="康复建议")
    medications: list[str] = Field(default_factory=list, description="出院带药 / 用药")
    number: str = Field("", description="回转单号; default: the referral's number + -R")
    attending_doctor: str = Field("", description="主治医生")


class NoteIn(BaseModel):
    note: str = ""


class StepOut(BaseModel):
    referral_id: UUID
    status: str
    position: int


@contextmanager
def domain_errors() -> Iterator[None]:
    """Domain errors as HTTP answers: conflicts 409 with the state, parties 403, unknown 404."""
    try:
        yield
    except InvalidTransition as error:
        raise HTTPException(409, {"message": str(error), "status": error.status,
                                  "referral_id": str(error.referral_id)}) from error
    except DuplicateReferral as error:
        raise HTTPException(409, {"message": str(error),
                                  "referral_id": str(error.referral_id)}) from error
    except ConcurrentChange as error:
        raise HTTPException(409, {"message": str(error)}) from error
    except NotAParty as error:
        raise HTTPException(403, str(error)) from error
    except (ReferralNotFound, ElderNotFound) as error:
        raise HTTPException(404, str(error)) from error
    except InvalidReferral as error:
        raise HTTPException(422, str(error)) from error


async def _command(hub: Hub, response: Response, run: Callable[[], StepResult]) -> StepResult:
    with domain_errors():
        result = await run_in_threadpool(run)
    hub.projector.nudge()
    response.headers["X-Hub-Position"] = str(result.position)
    return result


async def _wait(hub: Hub, wait_for: int | None) -> None:
    if wait_for:
        await run_in_threadpool(hub.projector.wait_for, wait_for)


def _find_elder(hub: Hub, body: ReferralIn) -> UUID:
    if body.elder_id is not None:
        return body.elder_id
    if not body.identifier:
        raise HTTPException(422, "name the elder by elder_id or identifier")
    system, _, value = body.identifier.rpartition("|")
    found = hub.read_model.find_elders(value, system or None)
    if len(found) != 1:
        raise HTTPException(404 if not found else 409,
                            "no elder holds that identifier" if not found
                            else "that identifier names more than one elder; use elder_id")
    return UUID(found[0]["id"])


@router.post("", response_model=StepOut, status_code=201)
async def request_referral(body: ReferralIn, hub: HubDep, caller: CallerDep,
                           response: Response) -> StepResult:
    """Send an elder up (上转) with a handover packet taken from the elder's profile now."""
    def run() -> StepResult:
        hub.projector.wait_for(hub.app.recorder.max_notification_id() or 0)
        form = ReferralForm(
            number=body.number, reason=body.reason, urgency=body.urgency,
            to_organisation=body.to_organisation, diagnosis=body.diagnosis,
            department=body.department, tests_done=tuple(body.tests_done),
            requesting_doctor=body.requesting_doctor, notes=body.notes)
        return request_with_packet(hub, caller, _find_elder(hub, body), form,
                                   "POST /referrals (handover packet)")
    return await _command(hub, response, run)


def request_with_packet(hub: Hub, caller: Caller, elder_id: UUID, form: ReferralForm,
                        what: str) -> StepResult:
    """Request a referral with the handover packet taken now (API and pages alike); the read of
    the elder's profile for the packet is checked and audited."""
    if not authorise_read(hub, caller, str(elder_id), what, uuid4().hex):
        raise ElderNotFound(f"no elder {elder_id}")
    profile = hub.read_model.profile(str(elder_id))
    if profile is None:
        raise ElderNotFound(f"no elder {elder_id}")
    packet = handover_packet(profile, hub.referrals.clock.now())
    return hub.referrals.desk.request(elder_id, caller.organisation, form, packet)


@router.post("/fhir", response_model=StepOut, status_code=201)
async def request_referral_from_fhir(request: Request, hub: HubDep, caller: CallerDep,
                                     response: Response) -> StepResult:
    """The same request as a FHIR R4 ServiceRequest (alone, or in a Bundle with its Patient)."""
    try:
        data = await request.json()
        mapped = referral_from_service_request(data if isinstance(data, dict) else {})
    except MappingError as error:
        raise HTTPException(422, [{"location": p.location, "message": p.message}
                                  for p in error.problems]) from error
    except ValueError as error:
        raise HTTPException(422, "the body is not JSON") from error

    def run() -> StepResult:
        hub.projector.wait_for(hub.app.recorder.max_notification_id() or 0)
        elder_ids = {e["id"] for system, value in mapped.identifiers
                     for e in hub.read_model.find_elders(value, system or None)}
        if len(elder_ids) != 1:
            raise HTTPException(404 if not elder_ids else 409,
                                "no elder holds the subject's identifiers" if not elder_ids
                                else "the subject's identifiers name more than one elder")
        elder_id = UUID(elder_ids.pop())
        packet = handover_packet(hub.read_model.profile(str(elder_id)) or {},
                                 hub.referrals.clock.now())
        return hub.referrals.desk.request(elder_id, caller.organisation, mapped.form, packet)
    return await _command(hub, response, run)


@router.get("", response_model=list[dict[str, Any]])
async def worklist(hub: HubDep, caller: CallerDep,
                   org: Annotated[str, Query(description="the organisation whose list this is")],
                   direction: Annotated[Literal["in", "out"], Query()] = "in",
                   status: Annotated[list[str] | None, Query()] = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                   wait_for: WaitFor = None) -> list[dict[str, Any]]:
    """Referrals coming in or going out, overdue first, then the soonest due."""
    if caller.organisation not in (LOCAL, org):
        raise HTTPException(403, "an organisation reads its own worklists")
    if status and set(status) - set(STATUSES):
        raise HTTPException(422, f"status is one of {', '.join(STATUSES)}")
    await _wait(hub, wait_for)
    return hub.referrals.views.worklist(org, direction, status, limit)


@router.get("/destinations", response_model=list[dict[str, Any]])
async def destinations(hub: HubDep, caller: CallerDep, org: str,
                       wait_for: WaitFor = None) -> list[dict[str, Any]]:
    """Where an organisation can send an elder: partnered (医养签约) destinations first."""
    await _wait(hub, wait_for)
    return hub.referrals.views.destinations(org)


def party_view(hub: Hub, referral_id: UUID, caller: Caller) -> dict[str, Any]:
    """The referral, for its sender, its destination (anyone, while it has none) or local use."""
    view = hub.referrals.views.referral(str(referral_id))
    if view is None:
        raise HTTPException(404, "no such referral")
    parties = {view["from_organisation"], view["to_organisation"]}
    if caller.role == "regulator" and caller.purpose.strip():
        return view
    if caller.organisation != LOCAL and view["to_organisation"] and \
            caller.organisation not in parties:
        raise HTTPException(403, "only the parties to a referral read it")
    return view


@router.get("/{referral_id}", response_model=dict[str, Any])
async def get_referral(referral_id: UUID, hub: HubDep, caller: CallerDep,
                       wait_for: WaitFor = None) -> dict[str, Any]:
    await _wait(hub, wait_for)
    return {k: v for k, v in party_view(hub, referral_id, caller).items() if k != "packet"}


@router.get("/{referral_id}/packet", response_model=dict[str, Any],
            responses={200: {"content": {FHIR_JSON: {}}}})
async def get_packet(referral_id: UUID, request: Request, hub: HubDep, caller: CallerDep,
                     format: Annotated[Literal["json", "fhir"] | None, Query()] = None,
                     wait_for: WaitFor = None) -> Any:
    """The handover packet as taken at request time; FHIR R4 Bundle on `format=fhir` or Accept."""
    await _wait(hub, wait_for)
    view = party_view(hub, referral_id, caller)
    hub.app.record_read(organisation=caller.organisation, role=caller.role,
                        elder_id=str(view["elder_id"]), what=f"GET {request.url.path}",
                        purpose=caller.purpose, request_id=request_id(request),
                        read_at=datetime.now(UTC), outcome="read")
    packet = view.get("packet") or {}
    if view.get("parent_id") and not packet:
        parent = hub.referrals.views.referral(view["parent_id"]) or {}
        packet = parent.get("packet") or {}
    if format == "fhir" or (format is None and FHIR_JSON in request.headers.get("accept", "")):
        bundle = bundle_from_referral(view, packet)
        return Response(json.dumps(bundle, ensure_ascii=False), media_type=FHIR_JSON)
    return {"referral_id": str(referral_id), **packet}


# FHIR Task.status → the step it asks for (DOMAIN.md §4).
TASK_STEPS = {"accepted": "accept", "rejected": "refuse", "cancelled": "cancel",
              "in-progress": "arrive", "completed": "complete"}


@router.post("/{referral_id}/task", response_model=StepOut)
async def update_from_fhir_task(referral_id: UUID, task: dict[str, Any], hub: HubDep,
                                caller: CallerDep, response: Response) -> StepResult:
    """A FHIR Task with a new status takes the matching step (accepted, rejected, cancelled,
    in-progress, completed); `statusReason.text` is the reason, `note[0].text` the result."""
    action = TASK_STEPS.get(str(task.get("status", "")))
    if task.get("resourceType") != "Task" or action is None:
        raise HTTPException(422, [{"location": "Task.status", "message": "status is one of "
                                   + ", ".join(TASK_STEPS)}])
    reason = (task.get("statusReason") or {}).get("text", "")
    note = next((n.get("text", "") for n in task.get("note", [])), "")
    desk, by = hub.referrals.desk, caller.organisation
    runs: dict[str, Callable[[], StepResult]] = {
        "accept": lambda: desk.accept(referral_id, by, note=note),
        "refuse": lambda: desk.refuse(referral_id, by, reason),
        "cancel": lambda: desk.cancel(referral_id, by, reason),
        "arrive": lambda: desk.arrive(referral_id, by),
        "complete": lambda: desk.complete(referral_id, by, note),
    }
    return await _command(hub, response, runs[action])


@router.post("/{referral_id}/accept", response_model=StepOut)
async def accept(referral_id: UUID, body: AcceptIn, hub: HubDep, caller: CallerDep,
                 response: Response) -> StepResult:
    return await _command(hub, response, lambda: hub.referrals.desk.accept(
        referral_id, caller.organisation, body.receiving_doctor, body.appointment, body.bed,
        body.note))


@router.post("/{referral_id}/refuse", response_model=StepOut)
async def refuse(referral_id: UUID, body: ReasonIn, hub: HubDep, caller: CallerDep,
                 response: Response) -> StepResult:
    return await _command(hub, response, lambda: hub.referrals.desk.refuse(
        referral_id, caller.organisation, body.reason))


@router.post("/{referral_id}/cancel", response_model=StepOut)
async def cancel(referral_id: UUID, body: ReasonIn, hub: HubDep, caller: CallerDep,
                 response: Response) -> StepResult:
    return await _command(hub, response, lambda: hub.referrals.desk.cancel(
        referral_id, caller.organisation, body.reason))


@router.post("/{referral_id}/arrive", response_model=StepOut)
async def arrive(referral_id: UUID, body: ArriveIn, hub: HubDep, caller: CallerDep,
                 response: Response) -> StepResult:
    return await _command(hub, response, lambda: hub.referrals.desk.arrive(
        referral_id, caller.organisation, body.visit_number))


@router.post("/{referral_id}/complete", response_model=StepOut)
async def complete(referral_id: UUID, body: CompleteIn, hub: HubDep, caller: CallerDep,
                   response: Response) -> StepResult:
    return await _command(hub, response, lambda: hub.referrals.desk.complete(
        referral_id, caller.organisation, body.treatment_result))


@router.post("/{referral_id}/return", response_model=StepOut, status_code=201)
async def send_return(referral_id: UUID, body: ReturnIn, hub: HubDep, caller: CallerDep,
                      response: Response) -> StepResult:
    """Send the elder back down (下转/回转); answers with the new return referral."""
    form = ReturnForm(discharge_summary=body.discharge_summary,
                      treatment_result=body.treatment_result,
                      rehabilitation_advice=body.rehabilitation_advice,
                      medications=tuple(body.medications), number=body.number,
                      attending_doctor=body.attending_doctor)
    return await _command(hub, response, lambda: hub.referrals.desk.send_return(
        referral_id, caller.organisation, form))


@router.post("/{referral_id}/receive", response_model=StepOut)
async def receive(referral_id: UUID, body: NoteIn, hub: HubDep, caller: CallerDep,
                  response: Response) -> StepResult:
    return await _command(hub, response, lambda: hub.referrals.desk.receive(
        referral_id, caller.organisation, body.note))


@router.post("/{referral_id}/follow-up", response_model=StepOut)
async def follow_up(referral_id: UUID, body: NoteIn, hub: HubDep, caller: CallerDep,
                    response: Response) -> StepResult:
    """The sender records how it turned out (随访, due within 14 days of completion)."""
    return await _command(hub, response, lambda: hub.referrals.desk.follow_up(
        referral_id, caller.organisation, body.note))
