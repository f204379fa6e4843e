"""Acceptance 4: schemathesis reads the hub's own OpenAPI document and throws generated requests
at every operation, in-process (ASGI), authenticated with a real key. No request may get a
server error, and every documented response must match its schema."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from adapters.api.app import create_app
from adapters.bootstrap import Hub, bootstrap
from adapters.settings import Settings
from tests.api import headers, register

EXAMPLES = int(os.environ.get("YYHUB_SCHEMATHESIS_EXAMPLES", "8"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
KEYS: dict[str, str] = {}


@pytest.fixture(scope="module")
def hub_and_schema(tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[tuple[Hub, schemathesis.BaseSchema]]:
    """The OpenAPI document of a hub with one organisation of every role."""
    folder: Path = tmp_path_factory.mktemp("schemathesis")
    hub: Hub = bootstrap(Settings(database_url=f"sqlite:///{folder}/hub.db"))
    for role in ("admin", "hospital", "care_home", "family_doctor", "regulator"):
        KEYS[role] = register(hub, f"ST-{role}", role, (f"ST-{role}",))
    app = create_app(hub=hub, background_worker=False)
    app.state.hub = hub  # the ASGI transport does not run the lifespan
    yield hub, schemathesis.openapi.from_asgi("/openapi.json", app)
    hub.close()


def test_no_generated_request_gets_a_server_error_or_breaks_the_schema(
        hub_and_schema: tuple[Hub, schemathesis.BaseSchema]) -> None:
    """Every operation, called with the key of each sending role in turn. (The schemathesis
    pytest plugin does not load under pytest 9 here, so operations are walked directly.)"""
    _, schema = hub_and_schema
    failures: list[str] = []
    calls = {"operations": 0, "requests": 0}
    for result in schema.get_all_operations():
        operation = result.ok()
        calls["operations"] += 1
        for mode in schemathesis.GenerationMode:  # valid requests, then invalid ones

            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(mode))
            def call(case: schemathesis.Case) -> None:
                for role in ("admin", "hospital", "care_home"):
                    calls["requests"] += 1
                    case.call_and_validate(headers=headers(KEYS[role]), checks=CHECKS)

            try:
                call()
            except Unsatisfiable:
                continue  # nothing in this operation's schema can be made invalid
            except (Exception, BaseExceptionGroup) as error:  # every operation tried, all reported
                failures.append(f"{operation.label} ({mode.value}): {str(error)[:1500]}")
    print(f"\nschemathesis: {calls['operations']} operations, {calls['requests']} requests, "
          f"{len(failures)} failing operations")
    assert not failures, "\n\n".join(failures)
