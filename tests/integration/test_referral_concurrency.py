"""Two writers on one referral: the store's version check decides, never the last writer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import IntegrityError

from adapters.bootstrap import Hub
from hub.referrals import InvalidTransition, Referral, ReferralForm
from tests.messages import adt, resident_id


def an_open_referral(hub: Hub) -> Referral:
    receipt = hub.hl7.receive(adt(national_id=resident_id()).encode(), "test").receipt
    hub.projector.catch_up()
    result = hub.referrals.desk.request(
        receipt.elder_ids[0], "YG-YLY", ReferralForm(number="OPEN-1", reason="胸痛待查"), {})
    referral: Referral = hub.app.repository.get(result.referral_id)
    return referral


def test_second_accept_from_a_stale_copy_is_rejected_by_the_store(hub: Hub) -> None:
    first = an_open_referral(hub)
    second: Referral = hub.app.repository.get(first.id)
    at = datetime(2026, 3, 1, 9, tzinfo=UTC)
    first.accept(by_organisation="DG-RMYY", receiving_doctor="", appointment="", bed="",
                 note="", at=at)
    second.accept(by_organisation="DG-ZYY", receiving_doctor="", appointment="", bed="",
                  note="", at=at)
    hub.app.save(first)
    with pytest.raises(IntegrityError):
        hub.app.save(second)
    kept: Referral = hub.app.repository.get(first.id)
    assert (kept.status, kept.to_organisation) == ("accepted", "DG-RMYY")


def test_the_desk_checks_a_lost_race_again_and_refuses_with_the_winners_state(hub: Hub) -> None:
    referral = an_open_referral(hub)
    hub.referrals.desk.accept(referral.id, "DG-RMYY")
    with pytest.raises(InvalidTransition) as refused:
        hub.referrals.desk.accept(referral.id, "DG-ZYY")
    assert refused.value.status == "accepted"
