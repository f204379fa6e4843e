"""Dependencies shared by every route: the hub, and the caller (one place for access rules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from adapters.bootstrap import Hub


@dataclass(frozen=True)
class Caller:
    """Who is calling: the organisation and its role. Authentication plugs in here."""

    organisation: str
    role: str


def get_hub(request: Request) -> Hub:
    return request.app.state.hub  # type: ignore[no-any-return]


def get_caller(request: Request) -> Caller:
    """Every route obtains its caller here. Until credentials exist, callers are local."""
    return Caller(organisation=request.headers.get("X-Organisation", "local"), role="local")


HubDep = Annotated[Hub, Depends(get_hub)]
CallerDep = Annotated[Caller, Depends(get_caller)]
