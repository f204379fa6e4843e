"""The 转诊单's rules on their own: which step may follow which, and what the packet carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from hub.referrals import ALLOWED, DOWN, UP, InvalidTransition, NotAParty, Referral, handover_packet

AT = datetime(2026, 3, 1, 8, tzinfo=UTC)
ACTIONS = sorted({action for _, action in ALLOWED})


def referral(direction: str = UP, to: str = "DG-RMYY") -> Referral:
    return Referral(
        elder_id=uuid4(), from_organisation="YG-YLY", number="ZZ-1", direction=direction,
        to_organisation=to, urgency="routine", reason="头晕", diagnosis="", department="",
        tests_done=(), requesting_doctor="", notes="", packet={}, parent_id=None,
        discharge_summary="", treatment_result="", rehabilitation_advice="", medications=(),
        requested_at=AT, due_at=AT + timedelta(hours=24), expires_at=AT + timedelta(days=3))


def walked_to(status: str) -> Referral:
    """A referral taken to `status` by the steps people take."""
    r = referral(DOWN if status in ("sent", "received") else UP)
    steps = {
        "accepted": [lambda: r.accept(by_organisation="DG-RMYY", receiving_doctor="",
                                      appointment="", bed="", note="", at=AT)],
        "refused": [lambda: r.refuse(by_organisation="DG-RMYY", reason="", at=AT)],
        "cancelled": [lambda: r.cancel(by_organisation="YG-YLY", reason="", at=AT)],
        "expired": [lambda: r.expire(at=AT)],
        "received": [lambda: r.receive(by_organisation="DG-RMYY", note="", at=AT)],
    }
    steps["arrived"] = [*steps["accepted"], lambda: r.arrive(by_organisation="DG-RMYY",
                                                             visit_number="", at=AT)]
    steps["completed"] = [*steps["arrived"], lambda: r.complete(
        by_organisation="DG-RMYY", treatment_result="", at=AT, follow_up_due_at=AT)]
    for take in steps.get(status, []):
        take()
    assert r.status == status
    return r


@pytest.mark.parametrize("status", ["requested", "accepted", "refused", "cancelled", "expired",
                                    "arrived", "completed", "sent", "received"])
def test_only_the_steps_the_state_machine_allows_are_accepted(status: str) -> None:
    r = walked_to(status)
    for action in ACTIONS:
        if status in ALLOWED.get((r.direction, action), ()):
            r.check_step(action)
        else:
            with pytest.raises(InvalidTransition) as refused:
                r.check_step(action)
            assert refused.value.status == status


def test_a_referral_to_the_platform_may_be_taken_by_any_hospital_but_not_its_sender() -> None:
    open_referral = referral(to="")
    open_referral.check_receiver("DG-ZYY")
    with pytest.raises(NotAParty):
        open_referral.check_receiver("YG-YLY")
    with pytest.raises(NotAParty):
        referral().check_receiver("DG-ZYY")


def test_packet_carries_active_medications_and_the_latest_vital_signs_only() -> None:
    profile = {
        "elder_id": "e1", "demographics": {"name": "张秀英"}, "identifiers": [],
        "diagnoses": [{"key": "d", "condition": {"code": "I10", "display": "高血压"}}],
        "medications": [{"key": "m1", "status": "active", "medication": {"display": "氨氯地平"}},
                        {"key": "m2", "status": "stopped", "medication": {"display": "卡托普利"}}],
        "observations": [{"key": "o1", "category": "vital-signs", "code": {"code": "8867-4"}},
                         {"key": "o2", "category": "laboratory", "code": {"code": "2345-7"}}],
        "assessments": [{"key": "a", "level": "中度失能"}],
    }
    packet = handover_packet(profile, AT)
    assert [m["medication"]["display"] for m in packet["medications"]] == ["氨氯地平"]
    assert [o["key"] for o in packet["vital_signs"]] == ["o1"]
    assert packet["problems"][0]["condition"]["display"] == "高血压"
    assert packet["assessments"] == [{"key": "a", "level": "中度失能"}]
    assert packet["allergies"] == [] and packet["contacts"] == []
    assert packet["taken_at"] == AT.isoformat()
