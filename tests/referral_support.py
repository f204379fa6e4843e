"""What the referral tests share: a clock the test moves by hand, and a hub and client on it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from adapters.api.app import create_app
from adapters.bootstrap import Hub, bootstrap
from adapters.settings import Settings
from tests.api import headers, register
from tests.messages import adt, resident_id

# Organisations go by their codes (HTTP headers are ASCII): 阳光养老院, 东莞市人民医院, 东莞市中医院
CARE_HOME = "YG-YLY"
HOSPITAL = "DG-RMYY"
OTHER_HOSPITAL = "DG-ZYY"
EXTRA = ("DG1|1||I10^高血压^I10|高血压||F",
         "AL1|1|DA|PEN^青霉素^L|SV|皮疹",
         "NK1|1|李^明|SON^儿子^HL70063||13900139000")


class HandClock:
    """A clock that stands still until the test moves it (a fake, not a mock)."""

    def __init__(self, start: datetime | None = None):
        self.at = start or datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


# Each organisation's key, registered as `yyhub orgs add` would (filled by `referral_hub`).
KEYS: dict[str, str] = {}
ADT_SENDER = "DGSY"  # the hospital whose ADT first brings the elder to the hub
ROLES = {CARE_HOME: "care_home", HOSPITAL: "hospital", OTHER_HOSPITAL: "hospital",
         ADT_SENDER: "hospital"}


@pytest.fixture
def referral_hub(settings: Settings, clock: HandClock) -> Iterator[Hub]:
    running = bootstrap(settings.model_copy(update={"webhook_retry_wait_seconds": 0}),
                        clock=clock)
    for code, role in ROLES.items():
        KEYS[code] = register(running, code, role, (code,))
    yield running
    running.close()


@pytest.fixture
def client(referral_hub: Hub) -> Iterator[TestClient]:
    """Calls go as the care home unless a test names another organisation (`as_org`)."""
    with TestClient(create_app(hub=referral_hub, background_worker=False),
                    headers=as_org(CARE_HOME)) as c:
        yield c


def as_org(organisation: str) -> dict[str, str]:
    """Call as this organisation, with its key."""
    return headers(KEYS[organisation])


def admit_elder(client: TestClient, national: str | None = None, control_id: str = "R0001"
                ) -> tuple[str, str]:
    """A hospital pushes an ADT for 张秀英; answers her 身份证号 and the write's position."""
    national = national or resident_id()
    answer = client.post("/hl7v2", headers=as_org(ADT_SENDER),
                         content=adt(national_id=national, control_id=control_id,
                                     facility=ADT_SENDER, extra=EXTRA).encode())
    assert "MSA|AA|" in answer.text
    # The care home keeps her registered too (its HIS sends ADT^A28), so it may refer her.
    registered = client.post("/hl7v2", headers=as_org(CARE_HOME),
                             content=adt("A28", national_id=national, facility=CARE_HOME,
                                         control_id=f"{control_id}-CH", mrn="CH-1").encode())
    assert "MSA|AA|" in registered.text, registered.text
    return national, registered.headers["X-Hub-Position"]


def request_referral(client: TestClient, national: str, number: str = "ZZ-2026-0001",
                     to: str = HOSPITAL, urgency: str = "routine") -> str:
    answer = client.post("/referrals", headers=as_org(CARE_HOME), json={
        "identifier": national, "number": number, "reason": "血压控制不满意, 头晕加重",
        "urgency": urgency, "to_organisation": to, "diagnosis": "高血压3级",
        "department": "心血管内科", "tests_done": ["血常规", "心电图"],
        "requesting_doctor": "王医生"})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["referral_id"])


def last_position(client: TestClient) -> int:
    """The newest log position, for reads that must include every write so far."""
    return int(client.app.state.hub.app.recorder.max_notification_id())  # type: ignore[attr-defined]
