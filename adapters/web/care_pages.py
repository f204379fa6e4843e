"""Pages for the work of care: a care home's residents and referrals, a hospital's referral desk,
a family doctor's expiring contracts, and the regulator's statistics.

Referral steps go through the same desk commands as the HTTP API (`hub.referrals.desk`, and
`request_with_packet` for a new referral), so the rules live in one place. Every view of an
elder's data is checked and audited with `authorise_read`, like an API read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from adapters.api.deps import HubDep, authorise_read, request_id, today, visible_elder_ids
from adapters.api.routes.referrals import domain_errors, party_view, request_with_packet
from adapters.web import charts
from adapters.web.pages import lang_of, page_caller, readable, render, templates
from hub.access import Caller
from hub.referrals import STEP_LABELS, ReferralForm, ReturnForm, StepResult, handover_packet

router = APIRouter(prefix="/ui", include_in_schema=False)

EXPIRING_DAYS = 90


# On a page a return waiting to be received says so (the timeline's label is just 下转).
PAGE_LABELS = {**STEP_LABELS, "sent": "下转待接收"}


def step_label(step: str, lang: str) -> str:
    """A referral state or step as the desk says it (简体中文), or as it is in English."""
    return step if lang == "en" else PAGE_LABELS.get(step, step)


templates.env.globals["step_label"] = step_label


def _audited(hub: Any, caller: Caller, elder_ids: list[str], what: str, request: Request
             ) -> list[str]:
    """Of these elders, those the caller may read; each listed elder is an audited read."""
    shown = visible_elder_ids(hub, caller, elder_ids)
    for elder_id in shown:
        authorise_read(hub, caller, elder_id, what, request_id(request))
    return shown


@router.get("/residents", response_class=HTMLResponse)
async def residents(request: Request, hub: HubDep) -> Response:
    """A care home's elders: those staying with it and those it keeps records of."""
    caller = page_caller(request, hub)
    elders = hub.read_model.elders_of(caller.organisation, ["resident", "records"])
    shown = set(await run_in_threadpool(_audited, hub, caller, [e["id"] for e in elders],
                                        "page: residents", request))
    return render(request, "residents.html", caller,
                  elders=[e for e in elders if e["id"] in shown])


def _hospitals(hub: Any, caller: Caller) -> list[dict[str, Any]]:
    """Where the caller can send an elder: partners and usual destinations, then any hospital."""
    found = [d["organisation"] for d in hub.referrals.views.destinations(caller.organisation)]
    found += [o["code"] for o in hub.read_model.organisations()
              if o["role"] == "hospital" and o["code"] not in found]
    names = {o["code"]: o["name"] for o in hub.read_model.organisations()}
    return [{"code": c, "name": names.get(c, c)} for c in found if c != caller.organisation]


def _lines(items: list[dict[str, Any]], field: str) -> list[str]:
    """Display text of coded items in a packet section."""
    out = []
    for item in items:
        coded = item.get(field) or {}
        out.append(coded.get("display") or coded.get("code") or item.get("summary", ""))
    return [o for o in out if o]


@router.get("/elders/{elder_id}/refer", response_class=HTMLResponse)
async def refer_form(request: Request, hub: HubDep, elder_id: UUID, error: str = "",
                     values: dict[str, str] | None = None) -> Response:
    """The 转诊单, pre-filled from the handover packet the hub would send now."""
    caller = page_caller(request, hub)
    await readable(request, hub, caller, elder_id)
    profile = hub.read_model.profile(str(elder_id))
    if profile is None:
        raise HTTPException(404, "no such elder")
    now = hub.referrals.clock.now()
    packet = handover_packet(profile, now)
    problems = _lines(packet["problems"], "condition")
    defaults = {
        "number": f"ZZ-{now.astimezone(hub.settings.zone):%Y%m%d-%H%M%S}",
        "diagnosis": "、".join(problems), "reason": "", "department": "", "notes": "",
        "requesting_doctor": "", "tests_done": "", "urgency": "routine", "to_organisation": "",
    }
    return render(request, "refer.html", caller, profile=profile, packet=packet,
                  form={**defaults, **(values or {})}, error=error,
                  hospitals=_hospitals(hub, caller), elder_id=str(elder_id))


async def _step(hub: Any, run: Callable[[], StepResult]) -> StepResult:
    """Run a desk command, then wait until the read model has it (the next page shows it)."""
    with domain_errors():
        result = await run_in_threadpool(run)
    hub.projector.nudge()
    await run_in_threadpool(hub.projector.wait_for, result.position)
    return result


@router.post("/elders/{elder_id}/refer", response_class=HTMLResponse)
async def refer(request: Request, hub: HubDep, elder_id: UUID) -> Response:
    caller = page_caller(request, hub)
    data = {k: str(v).strip() for k, v in (await request.form()).items()}
    form = ReferralForm(
        number=data.get("number", ""), reason=data.get("reason", ""),
        urgency=data.get("urgency", "routine"), to_organisation=data.get("to_organisation", ""),
        diagnosis=data.get("diagnosis", ""), department=data.get("department", ""),
        tests_done=tuple(t.strip() for t in data.get("tests_done", "").splitlines() if t.strip()),
        requesting_doctor=data.get("requesting_doctor", ""), notes=data.get("notes", ""))
    try:
        result = await _step(hub, lambda: request_with_packet(
            hub, caller, elder_id, form, f"page: {request.url.path} (handover packet)"))
    except HTTPException as problem:
        detail = problem.detail if isinstance(problem.detail, str) else \
            problem.detail.get("message", str(problem.detail))
        return await refer_form(request, hub, elder_id, error=detail, values=data)
    return RedirectResponse(f"/ui/referrals/{result.referral_id}", status_code=303)


@router.get("/referrals", response_class=HTMLResponse)
def worklists(request: Request, hub: HubDep) -> Response:
    """Incoming and outgoing referrals of the caller's organisation, overdue first."""
    caller = page_caller(request, hub)
    views = hub.referrals.views
    incoming = views.worklist(caller.organisation, "in", None, 200)
    outgoing = views.worklist(caller.organisation, "out", None, 200)
    # Names are personal data: each elder listed is an audited read; an open referral's elder
    # stays unnamed for those with no care relationship yet (until one accepts it).
    elders = list(dict.fromkeys(r["elder_id"] for r in incoming + outgoing))
    named = set(_audited(hub, caller, elders, "page: referral worklist", request))
    lists = [(name, [{**r, "elder_name": r["elder_name"] if r["elder_id"] in named else ""}
                     for r in rows]) for name, rows in (("incoming", incoming),
                                                        ("outgoing", outgoing))]
    if caller.role == "care_home":
        lists.reverse()
    return render(request, "referrals.html", caller, lists=lists,
                  now=hub.referrals.clock.now().isoformat())


@router.get("/referrals/{referral_id}", response_class=HTMLResponse)
async def referral_page(request: Request, hub: HubDep, referral_id: UUID,
                        error: str = "") -> Response:
    """One referral: the 转诊单, its packet, its steps, and the forms for the next step."""
    caller = page_caller(request, hub)
    view = party_view(hub, referral_id, caller)
    allowed = await run_in_threadpool(authorise_read, hub, caller, str(view["elder_id"]),
                                      f"page: {request.url.path}", request_id(request))
    packet = view.get("packet") or {}
    parent = hub.referrals.views.referral(view["parent_id"]) if view.get("parent_id") else None
    returned = hub.referrals.views.referral(view["return_id"]) if view.get("return_id") else None
    return render(request, "referral.html", caller, r=view, packet=packet if allowed else {},
                  parent=parent, returned=returned, error=error,
                  receiving=caller.organisation != view["from_organisation"]
                  and caller.role != "regulator",
                  allowed=allowed)


@router.post("/referrals/{referral_id}/{action}")
async def referral_step(request: Request, hub: HubDep, referral_id: UUID,
                        action: str) -> Response:
    """Take a step with the same desk commands the API uses; refusals come back on the page."""
    caller = page_caller(request, hub)
    data = {k: str(v).strip() for k, v in (await request.form()).items()}
    desk, by = hub.referrals.desk, caller.organisation
    runs: dict[str, Callable[[], StepResult]] = {
        "accept": lambda: desk.accept(referral_id, by, data.get("receiving_doctor", ""),
                                      data.get("appointment", ""), data.get("bed", ""),
                                      data.get("note", "")),
        "refuse": lambda: desk.refuse(referral_id, by, data.get("reason", "")),
        "cancel": lambda: desk.cancel(referral_id, by, data.get("reason", "")),
        "arrive": lambda: desk.arrive(referral_id, by, data.get("visit_number", "")),
        "complete": lambda: desk.complete(referral_id, by, data.get("treatment_result", "")),
        "return": lambda: desk.send_return(referral_id, by, ReturnForm(
            discharge_summary=data.get("discharge_summary", ""),
            treatment_result=data.get("treatment_result", ""),
            rehabilitation_advice=data.get("rehabilitation_advice", ""),
            medications=tuple(m.strip() for m in data.get("medications", "").splitlines()
                              if m.strip()),
            attending_doctor=data.get("attending_doctor", ""))),
        "receive": lambda: desk.receive(referral_id, by, data.get("note", "")),
        "follow-up": lambda: desk.follow_up(referral_id, by, data.get("note", "")),
    }
    if action not in runs:
        raise HTTPException(404, "no such step")
    try:
        result = await _step(hub, runs[action])
    except HTTPException as problem:
        detail = problem.detail if isinstance(problem.detail, str) else \
            problem.detail.get("message", str(problem.detail))
        return await referral_page(request, hub, referral_id, error=detail)
    return RedirectResponse(f"/ui/referrals/{result.referral_id}", status_code=303)


@router.get("/contracts", response_class=HTMLResponse)
async def expiring_contracts(request: Request, hub: HubDep) -> Response:
    """A family doctor's contracts ending in the next 90 days, soonest first."""
    caller = page_caller(request, hub)
    day = today(hub).date()
    rows = hub.read_model.contracts_ending(
        None if caller.role == "regulator" else caller.organisation, day,
        day + timedelta(days=EXPIRING_DAYS))
    shown = set(await run_in_threadpool(_audited, hub, caller, [r["elder_id"] for r in rows],
                                        "page: expiring contracts", request))
    rows = [{**r, "days_left": (r["valid_to"] - day).days} for r in rows
            if r["elder_id"] in shown]
    return render(request, "contracts.html", caller, rows=rows, days=EXPIRING_DAYS)


STANDARD_FIELDS = {"key", "name", "formula", "numerator", "denominator", "value", "breakdown"}


@router.get("/stats", response_class=HTMLResponse)
async def stats_page(request: Request, hub: HubDep, as_of: str = "") -> Response:
    """The regulator's dashboard: each indicator with its formula and a bar chart by breakdown.

    Counts only (no personal data), from the same `statistics` the `GET /stats` API answers.
    """
    caller = page_caller(request, hub)
    if caller.role != "regulator" and caller.organisation != "local":
        raise HTTPException(403, "regulators only")
    day = date.fromisoformat(as_of) if as_of else today(hub).date()
    report = await run_in_threadpool(hub.app.statistics, day, hub.settings.zone)
    indicators = [{**i, "extra": {k: v for k, v in i.items()
                                  if k not in STANDARD_FIELDS and v is not None}}
                  for i in report["indicators"]]
    lang = lang_of(request)
    bars = {i["key"]: charts.bars([{**b, "label": " ".join(step_label(w, lang) for w in
                                                           str(b.get("label", "")).split())}
                                   for b in i.get("breakdown") or []])
            for i in indicators}
    return render(request, "stats.html", caller, report=report, indicators=indicators,
                  bars=bars, as_of=day.isoformat())
