"""Who may read which elder: access follows the care relationship (pure policy, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from hub.errors import HubError


class AccessDenied(HubError):
    """Raised when a caller asks for an elder outside its care relationships."""


class PurposeRequired(HubError):
    """Raised when a regulator reads personal data without stating a purpose."""


@dataclass(frozen=True)
class Caller:
    """An authenticated organisation, and the purpose it stated for this request."""

    organisation: str
    role: str
    name: str = ""
    purpose: str = ""
    sending_facilities: tuple[str, ...] = ()


@dataclass(frozen=True)
class Relationship:
    """Why an organisation is involved with an elder, and for which days.

    kinds: `records` (it sent records about them), `referral` (a referral to or from it),
    `contract` (a family-doctor contract with its team), `resident` (a stay in its care home).
    """

    organisation: str
    kind: str
    valid_from: date | None = None
    valid_to: date | None = None

    def holds_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to)


# Which relationship kinds let each role read an elder.
READS_BY_ROLE = {
    "hospital": {"records", "referral"},
    "family_doctor": {"contract"},
    "care_home": {"resident", "referral", "records"},
}


def may_read_elder(caller: Caller, relationships: list[Relationship], today: date) -> bool:
    """True when the caller's organisation has a care relationship with the elder today.

    A family doctor's access ends with the contract (`valid_to`); a care home keeps access to
    past residents (their stay ended, the relationship did not); a regulator reads everyone.
    """
    if caller.role == "regulator":
        return True
    kinds = READS_BY_ROLE.get(caller.role, set())
    for rel in relationships:
        if rel.organisation != caller.organisation or rel.kind not in kinds:
            continue
        if rel.kind == "contract" and not rel.holds_on(today):
            continue
        return True
    return False


def check_may_read_elder(caller: Caller, relationships: list[Relationship], today: date) -> None:
    if caller.role == "regulator" and not caller.purpose.strip():
        raise PurposeRequired("a regulator must state a purpose (X-Purpose header)")
    if not may_read_elder(caller, relationships, today):
        raise AccessDenied("no care relationship with this elder")


def may_read_health_data(caller: Caller) -> bool:
    """Administrators manage organisations; they read no health data."""
    return caller.role in READS_BY_ROLE or caller.role == "regulator"
