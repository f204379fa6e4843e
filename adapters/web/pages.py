"""Pages: log in, find an elder, profile and timeline with trends, and the regulator's audit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.api.deps import (
    PURPOSE_COOKIE,
    SESSION_COOKIE,
    HubDep,
    authenticate,
    authorise_read,
    get_caller,
    request_id,
    today,
    visible_elder_ids,
)
from adapters.web import charts
from adapters.web.i18n import translator
from hub.access import Caller, PurposeRequired
from hub.projections import profile as profile_fold

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["shown"] = charts.shown
templates.env.filters["figure"] = charts.figure


def local_time(value: Any, zone: str = "Asia/Shanghai") -> str:
    """An ISO instant as local wall time (minutes), for tables."""
    if not value:
        return ""
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}"


templates.env.filters["local"] = local_time


class LoginNeeded(Exception):
    """Raised when a page is asked for without a valid session; answered with the login page."""


def lang_of(request: Request) -> str:
    return request.query_params.get("lang") or request.cookies.get("yyhub_lang") or "zh"


def render(request: Request, template: str, caller: Caller | None, **context: Any) -> Response:
    lang = lang_of(request)
    response = templates.TemplateResponse(request, template, {
        "t": translator(lang), "lang": lang, "caller": caller, **context})
    if "lang" in request.query_params:
        response.set_cookie("yyhub_lang", lang, samesite="strict")
    return response


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """On a page, a refusal or a missing thing is a page too; the API keeps its JSON answers."""
    if not request.url.path.startswith("/ui/"):
        return await http_exception_handler(request, exc)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    response = render(request, "error.html", None, status=exc.status_code, detail=detail)
    response.status_code = exc.status_code
    return response


def page_caller(request: Request, hub: Any) -> Caller:
    try:
        return get_caller(request, hub)
    except HTTPException as error:
        raise LoginNeeded() from error


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return render(request, "login.html", None, error="")


@router.post("/login")
def login(request: Request, hub: HubDep, key: Annotated[str, Form()],
          purpose: Annotated[str, Form()] = "") -> Response:
    caller = authenticate(hub, key.strip(), purpose)
    if caller is None:
        return render(request, "login.html", None, error=translator(lang_of(request))("bad_key"))
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(SESSION_COOKIE, key.strip(), httponly=True, samesite="strict")
    response.set_cookie(PURPOSE_COOKIE, quote(purpose), httponly=True, samesite="strict")
    return response


@router.get("/logout")
def logout() -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(PURPOSE_COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, hub: HubDep) -> Response:
    caller = page_caller(request, hub)
    if caller.role == "regulator":
        return RedirectResponse("/ui/audit", status_code=303)
    if caller.role == "care_home":
        return RedirectResponse("/ui/residents", status_code=303)
    return render(request, "elders.html", caller, query="", results=None)


@router.get("/elders", response_class=HTMLResponse)
async def find(request: Request, hub: HubDep, q: str = "") -> Response:
    caller = page_caller(request, hub)
    q = q.strip()
    found: list[dict[str, Any]] = []
    if q:
        system, _, value = q.rpartition("|")
        found = hub.read_model.find_elders(value, system or None) or hub.read_model.find_by_name(q)
        visible = set(visible_elder_ids(hub, caller, [e["id"] for e in found]))
        found = [e for e in found if e["id"] in visible]
        for elder in found:
            await run_in_threadpool(authorise_read, hub, caller, elder["id"],
                                    "page: find elder", request_id(request))
    return render(request, "elders.html", caller, query=q, results=found)


async def readable(request: Request, hub: Any, caller: Caller, elder_id: UUID) -> None:
    try:
        allowed = await run_in_threadpool(authorise_read, hub, caller, str(elder_id),
                                          f"page: {request.url.path}", request_id(request))
    except PurposeRequired as error:
        raise HTTPException(403, str(error)) from error
    if not allowed:
        raise HTTPException(404, "no such elder")


@router.get("/elders/{elder_id}", response_class=HTMLResponse)
async def elder_page(request: Request, hub: HubDep, elder_id: UUID, kind: str = "",
                     cursor: str = "") -> Response:
    caller = page_caller(request, hub)
    await readable(request, hub, caller, elder_id)
    document = hub.read_model.profile(str(elder_id))
    if document is None:
        raise HTTPException(404, "no such elder")
    after = None
    if cursor:
        at, _, position = cursor.rpartition("~")
        after = (datetime.fromisoformat(at), int(position))
    entries = hub.read_model.timeline(str(elder_id), kinds=[kind] if kind else None,
                                      after=after, limit=51)
    readings = charts.series_from(hub.read_model.timeline(str(elder_id), kinds=["observation"],
                                                          limit=1000))
    trend = {
        "blood_pressure": charts.svg([readings["systolic"], readings["diastolic"]],
                                     ["#c0392b", "#2471a3"]),
        "glucose": charts.svg([readings["glucose"]], ["#7d3c98"]),
        "weight": charts.svg([readings["weight"]], ["#1e8449"]),
    }
    kinds = sorted({"demographics", "contact", "allergy", "diagnosis", "encounter",
                    "observation", "medication", "document", "referral", "identifier"})
    return render(request, "elder.html", caller, profile=document, entries=entries[:50],
                  next_cursor=entries[49]["cursor"] if len(entries) > 50 else "",
                  kind=kind, kinds=kinds, trend=trend, today=today(hub).date().isoformat())


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, hub: HubDep) -> Response:
    caller = page_caller(request, hub)
    if caller.role != "regulator":
        raise HTTPException(403, "regulators only")
    hub.projector.catch_up()
    seal = hub.sealer.verify()
    return render(request, "audit.html", caller, rows=hub.read_model.audit(limit=200), seal=seal)


@router.get("/audit/elders/{elder_id}", response_class=HTMLResponse)
async def as_of_page(request: Request, hub: HubDep, elder_id: UUID, as_of: str = "") -> Response:
    caller = page_caller(request, hub)
    if caller.role != "regulator":
        raise HTTPException(403, "regulators only")
    await readable(request, hub, caller, elder_id)
    moment = datetime.fromisoformat(as_of) if as_of else None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=hub.settings.zone)
    events = await run_in_threadpool(hub.app.elder_events, elder_id)
    known = [e for e in events if moment is None or e.timestamp <= moment]
    document = profile_fold.fold(elder_id, known)
    return render(request, "as_of.html", caller, profile=document, as_of=as_of,
                  elder_id=str(elder_id), known=len(known), total=len(events))
