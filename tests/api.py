"""Test clients that call the API as a given organisation, with a real key."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi.testclient import TestClient

from adapters.api.deps import key_hash
from adapters.bootstrap import Hub


def register(hub: Hub, code: str, role: str, facilities: tuple[str, ...] = ()) -> str:
    """Register an organisation the way `yyhub orgs add` does; returns its key."""
    key = "yyk_" + secrets.token_urlsafe(32)
    hub.app.register_organisation(code, code, role, key_hash(key), facilities)
    hub.projector.catch_up()
    return key


def headers(key: str, purpose: str = "") -> dict[str, str]:
    out = {"Authorization": f"Bearer {key}"}
    if purpose:
        out["X-Purpose"] = quote(purpose)  # headers are ASCII: UTF-8, percent-encoded
    return out


def client_as(app_client: TestClient, key: str, purpose: str = "") -> TestClient:
    app_client.headers.update(headers(key, purpose))
    return app_client


_registered: dict[tuple[str, str], str] = {}


def as_sender(hub: Hub, code: str, role: str = "hospital", purpose: str = "") -> dict[str, str]:
    """Headers of an organisation, registered on first use (one key per hub and code)."""
    # Keyed by the database, not id(hub): a later hub may reuse a freed hub's id.
    where = hub.settings.database_url
    key = _registered.get((where, code))
    if key is None:
        key = _registered[(where, code)] = register(hub, code, role, (code,))
    return headers(key, purpose)
