"""签约服务 rules on the contract itself: one team at a time, the renewal window, endings."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from hub.contracts import (
    EXPIRE,
    RENEW,
    SIGN,
    TERMINATE,
    ContractCommand,
    ContractNotInForce,
    InvalidContractTerms,
    OutsideRenewalWindow,
    TeamAlreadyContracted,
    execute,
    months_before,
)


class Store:
    """Aggregates by id, as the application's repository would hand them out."""

    def __init__(self) -> None:
        self.held: dict = {}

    def get(self, aggregate_id):  # type: ignore[no-untyped-def]
        return self.held.get(aggregate_id)

    def run(self, elder, **command):  # type: ignore[no-untyped-def]
        changed, fact = execute(ContractCommand(organisation="DGGC-CHC", **command), elder,
                                self.get)
        for aggregate in changed:
            aggregate.collect_events()
            self.held[aggregate.id] = aggregate
        return fact


def signed(store: Store, elder, contract_id: str = "HT-1",  # type: ignore[no-untyped-def]
           team: str = "一队"):
    return store.run(elder, action=SIGN, contract_id=contract_id, team=team,
                     on=date(2025, 3, 1), period_start=date(2025, 3, 1),
                     period_end=date(2026, 2, 28), packages=("基础包",))


@pytest.mark.parametrize(("on", "allowed"), [
    (date(2025, 11, 27), False), (date(2025, 11, 28), True), (date(2026, 2, 28), True),
    (date(2027, 2, 28), True), (date(2027, 3, 1), False)])
def test_renewal_opens_three_months_before_expiry_and_closes_a_year_after(
        on: date, allowed: bool) -> None:
    store, elder = Store(), uuid4()
    signed(store, elder)
    if allowed:
        fact = store.run(elder, action=RENEW, contract_id="HT-1", on=on,
                         period_end=date(2027, 2, 28) if on < date(2027, 2, 28)
                         else date(2028, 2, 28))
        assert fact.status == "renewed" and fact.period_start == date(2026, 3, 1)
    else:
        with pytest.raises(OutsideRenewalWindow):
            store.run(elder, action=RENEW, contract_id="HT-1", on=on)


def test_another_team_may_sign_once_the_period_has_passed_or_the_contract_ended() -> None:
    store, elder = Store(), uuid4()
    signed(store, elder)
    with pytest.raises(TeamAlreadyContracted, match="with team 一队 until 2026-02-28"):
        signed(store, elder, contract_id="HT-2", team="二队")
    store.run(elder, action=EXPIRE, contract_id="HT-1", on=date(2026, 3, 1))
    assert signed(store, elder, contract_id="HT-2", team="二队").team == "二队"


def test_a_terminated_contract_cannot_be_renewed_and_reasons_are_1_to_5() -> None:
    store, elder = Store(), uuid4()
    signed(store, elder)
    with pytest.raises(InvalidContractTerms, match="1–5"):
        store.run(elder, action=TERMINATE, contract_id="HT-1", on=date(2025, 6, 1),
                  reason_code="7")
    fact = store.run(elder, action=TERMINATE, contract_id="HT-1", on=date(2025, 6, 1),
                     reason_code="4")
    assert (fact.status, fact.reason) == ("terminated", "主动解约")
    with pytest.raises(ContractNotInForce):
        store.run(elder, action=RENEW, contract_id="HT-1", on=date(2026, 1, 1))


def test_a_contract_cannot_expire_before_its_period_ends() -> None:
    store, elder = Store(), uuid4()
    signed(store, elder)
    with pytest.raises(ContractNotInForce, match="runs until 2026-02-28"):
        store.run(elder, action=EXPIRE, contract_id="HT-1", on=date(2026, 2, 28))


def test_months_before_clamps_to_the_end_of_a_shorter_month() -> None:
    assert months_before(date(2026, 5, 31), 3) == date(2026, 2, 28)
    assert months_before(date(2026, 2, 28), 3) == date(2025, 11, 28)
