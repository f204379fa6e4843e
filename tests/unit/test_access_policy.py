"""Access follows the care relationship, day by day."""

from __future__ import annotations

from datetime import date

import pytest

from hub.access import (
    AccessDenied,
    Caller,
    PurposeRequired,
    Relationship,
    check_may_read_elder,
    may_read_elder,
)

CONTRACT = [Relationship("FD1", "contract", date(2026, 1, 1), date(2026, 12, 31))]


def test_family_doctor_reads_during_the_contract_and_loses_access_the_day_after_it_ends() -> None:
    doctor = Caller("FD1", "family_doctor")
    assert may_read_elder(doctor, CONTRACT, date(2026, 12, 31))
    assert not may_read_elder(doctor, CONTRACT, date(2027, 1, 1))
    assert not may_read_elder(doctor, CONTRACT, date(2025, 12, 31))


def test_another_team_and_an_admin_read_nothing() -> None:
    assert not may_read_elder(Caller("FD2", "family_doctor"), CONTRACT, date(2026, 6, 1))
    records = [Relationship("H1", "records")]
    assert not may_read_elder(Caller("ADMIN", "admin"), records, date(2026, 6, 1))
    assert may_read_elder(Caller("H1", "hospital"), records, date(2026, 6, 1))
    assert not may_read_elder(Caller("H1", "family_doctor"), records, date(2026, 6, 1))


def test_care_home_keeps_reading_past_residents() -> None:
    stay = [Relationship("CH1", "resident", date(2025, 1, 1), date(2025, 6, 30))]
    assert may_read_elder(Caller("CH1", "care_home"), stay, date(2026, 6, 1))


def test_regulator_reads_all_but_only_with_a_purpose() -> None:
    with pytest.raises(PurposeRequired):
        check_may_read_elder(Caller("REG", "regulator"), [], date(2026, 6, 1))
    check_may_read_elder(Caller("REG", "regulator", purpose="年度监督"), [], date(2026, 6, 1))
    with pytest.raises(AccessDenied):
        check_may_read_elder(Caller("H9", "hospital"), CONTRACT, date(2026, 6, 1))
