"""A regulator's statistics match what anyone can count by hand from the city's own records,
and an erasure changes no total."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from adapters.api.app import create_app
from adapters.bootstrap import Hub
from adapters.demo_city import City, generate, load
from tests.api import as_sender

DAY = date(2026, 1, 26)  # ten months into the city's year


@pytest.fixture(scope="module")
def city() -> City:
    return generate(seed=7, elders=80)


@pytest.fixture
def loaded(sqlite_hub: Hub, city: City) -> Iterator[TestClient]:
    report = load(sqlite_hub, city)
    assert not report.problems
    with TestClient(create_app(hub=sqlite_hub, background_worker=False),
                    headers=as_sender(sqlite_hub, "WJW", "regulator")) as client:
        yield client


def records(city: City, record_type: str) -> list[dict]:
    return [r for r in city.records if r["record_type"] == record_type]


def on(record: dict) -> date:
    return datetime.fromisoformat(str(record["occurred_at"])).date()


def contracts_in_force_by_hand(city: City, day: date) -> int:
    periods: dict[str, list] = {}
    for r in sorted(records(city, "contract"), key=on):
        held = periods.setdefault(r["contract_id"], [None, None, None, r["resident_id"]])
        if r["action"] == "sign":
            held[0], held[1] = date.fromisoformat(r["period_start"]), \
                date.fromisoformat(r["period_end"])
        elif r["action"] == "renew":
            held[1] = date.fromisoformat(r["period_end"])
        elif r["action"] == "terminate":
            held[2] = on(r)
    return len({p[3] for p in periods.values()
                if p[0] <= day <= p[1] and (p[2] is None or day < p[2])})


def health_checks_by_hand(city: City, day: date) -> tuple[int, int]:
    def age(born: date) -> int:
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    over_65 = {p.national_id for p in city.elders if age(p.birth) >= 65}
    checked = {r["resident_id"] for r in records(city, "annual_check")
               if day - timedelta(days=365) < on(r) <= day} & over_65
    return len(checked), len(over_65)


def incident_rate_by_hand(city: City, day: date) -> tuple[int, int]:
    start = day - timedelta(days=365)
    left = {r["resident_id"]: on(r) for r in records(city, "discharge")}
    resident_days = 0
    for r in records(city, "admission"):
        first, last = max(on(r), start + timedelta(days=1)), min(left.get(r["resident_id"], day),
                                                                 day)
        resident_days += max((last - first).days + 1, 0)
    incidents = sum(1 for r in records(city, "incident") if start < on(r) <= day)
    return incidents, resident_days


def indicator(stats: dict, key: str) -> dict:
    return next(i for i in stats["indicators"] if i["key"] == key)


def test_three_indicators_match_counts_by_hand(loaded: TestClient, city: City) -> None:
    stats = loaded.get("/stats", params={"as_of": DAY.isoformat()}).json()
    contract = indicator(stats, "contract_rate")
    assert (contract["numerator"], contract["denominator"]) == (
        contracts_in_force_by_hand(city, DAY), len(city.elders))
    assert contract["formula"] == "有效签约老年人数 / 平台登记老年人数"
    checks = indicator(stats, "elderly_health_management_rate")
    assert (checks["numerator"], checks["denominator"]) == health_checks_by_hand(city, DAY)
    incidents = indicator(stats, "care_home_incident_rate")
    assert (incidents["numerator"], incidents["denominator"]) == incident_rate_by_hand(city, DAY)
    assert incidents["value"] == round(incidents["numerator"] * 1000 / incidents["denominator"], 3)


def test_an_earlier_date_is_answered_as_it_stood_then(loaded: TestClient, city: City) -> None:
    early = date(2025, 4, 20)
    stats = loaded.get("/stats", params={"as_of": early.isoformat()}).json()
    assert indicator(stats, "contract_rate")["numerator"] == contracts_in_force_by_hand(
        city, early)


def test_erasure_changes_no_total(loaded: TestClient, sqlite_hub: Hub, city: City) -> None:
    before = loaded.get("/stats", params={"as_of": DAY.isoformat()}).json()
    featured = sqlite_hub.read_model.find_elders(city.elders[0].national_id)[0]["id"]
    from uuid import UUID
    sqlite_hub.eraser.erase(UUID(featured), "本人", "个人信息保护法第四十七条")
    after = loaded.get("/stats", params={"as_of": DAY.isoformat()}).json()
    assert after == before


def test_only_regulators_read_statistics(sqlite_hub: Hub) -> None:
    with TestClient(create_app(hub=sqlite_hub, background_worker=False),
                    headers=as_sender(sqlite_hub, "DGSY")) as client:
        assert client.get("/stats").status_code == 403
