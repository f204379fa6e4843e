"""Family-doctor contracts (家庭医生签约): one team per elder at a time, renewal window, expiry.

A contract's id comes from its natural key (organisation + contract number), so a resent signing
collides in the store. A small guard aggregate per elder records the contract in force, so two
concurrent signings with different teams cannot both succeed: both try to write the same guard
version and the store accepts only one (the other is retried and refused).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from hub.errors import HubError
from hub.facts import ContractStatus

CONTRACT_NAMESPACE = uuid5(NAMESPACE_URL, "urn:yyhub:family-doctor-contract")
GUARD_NAMESPACE = uuid5(NAMESPACE_URL, "urn:yyhub:elder-contract-guard")

# FC_Stop_Reason (DOMAIN.md §3).
TERMINATION_REASONS = {"1": "迁出本辖区", "2": "连续一年无法取得联系", "3": "连续一年拒绝服务",
                       "4": "主动解约", "5": "其他"}
RENEWAL_OPENS_MONTHS_BEFORE = 3
RENEWAL_CLOSES_DAYS_AFTER = 365

SIGN, RENEW, TERMINATE, EXPIRE = "sign", "renew", "terminate", "expire"


class ContractError(HubError):
    """Raised when a contract record breaks a rule of 签约服务; `code` names the rule."""

    code = "contract-rule"


class TeamAlreadyContracted(ContractError):
    """Raised when an elder whose contract is in force signs with another team."""

    code = "contract-conflict"


class OutsideRenewalWindow(ContractError):
    """Raised when a renewal comes earlier than 3 months before expiry or over a year after it."""

    code = "renewal-window"


class ContractNotInForce(ContractError):
    """Raised when a terminated contract is renewed, or an ended contract ended again."""

    code = "contract-not-in-force"


class UnknownContract(ContractError):
    """Raised when a renewal, termination or expiry names a contract never signed."""

    code = "contract-unknown"


class InvalidContractTerms(ContractError):
    """Raised when a period ends before it starts or a termination reason is not 1–5."""

    code = "contract-terms"


def months_before(day: date, months: int) -> date:
    """The same day of the month `months` earlier (clamped to the month's last day)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


class FamilyDoctorContract(Aggregate):
    """A yearly contract between an elder and a family-doctor team."""

    @staticmethod
    def create_id(organisation: str, contract_id: str) -> UUID:
        return uuid5(CONTRACT_NAMESPACE, f"{organisation}|{contract_id}")

    @event("Signed")
    def __init__(self, elder_id: UUID, organisation: str, contract_id: str, team: str,
                 period_start: date, period_end: date, packages: tuple[str, ...],
                 signed_on: date):
        self.elder_id = elder_id
        self.organisation = organisation
        self.contract_id = contract_id
        self.team = team
        self.period_start = period_start
        self.period_end = period_end
        self.packages = tuple(packages)
        self.status = "signed"
        self.reason_code = ""

    @staticmethod
    def check_period(period_start: date, period_end: date) -> None:
        """A contract period must end after it starts."""
        if period_end <= period_start:
            raise InvalidContractTerms(
                f"the period ends ({period_end}) before it starts ({period_start})")

    def check_renewal_window(self, on: date) -> None:
        """Renewal opens 3 months before expiry and closes a year after it."""
        opens = months_before(self.period_end, RENEWAL_OPENS_MONTHS_BEFORE)
        closes = self.period_end + timedelta(days=RENEWAL_CLOSES_DAYS_AFTER)
        if not opens <= on <= closes:
            raise OutsideRenewalWindow(
                f"contract {self.contract_id} ends {self.period_end}: it can be renewed from "
                f"{opens} to {closes}, not on {on}")

    def check_in_force(self, action: str) -> None:
        """Only a contract not terminated (or, for termination/expiry, not ended) can change."""
        ended = ("terminated",) if action == RENEW else ("terminated", "expired")
        if self.status in ended:
            raise ContractNotInForce(
                f"contract {self.contract_id} is already {self.status}; it cannot be {action}ed")

    def renew(self, period_end: date, on: date) -> None:
        self.check_in_force(RENEW)
        self.check_renewal_window(on)
        self.check_period(self.period_end, period_end)
        self._renewed(period_start=self.period_end + timedelta(days=1), period_end=period_end,
                      renewed_on=on)

    @event("Renewed")
    def _renewed(self, period_start: date, period_end: date, renewed_on: date) -> None:
        self.period_start = period_start
        self.period_end = period_end
        self.status = "renewed"

    def terminate(self, reason_code: str, on: date) -> None:
        self.check_in_force(TERMINATE)
        if reason_code not in TERMINATION_REASONS:
            raise InvalidContractTerms(
                f"termination reason must be one of 1–5 (FC_Stop_Reason), not {reason_code!r}")
        self._terminated(reason_code=reason_code, terminated_on=on)

    @event("Terminated")
    def _terminated(self, reason_code: str, terminated_on: date) -> None:
        self.status = "terminated"
        self.reason_code = reason_code

    def expire(self, on: date) -> None:
        self.check_in_force(EXPIRE)
        if on <= self.period_end:
            raise ContractNotInForce(
                f"contract {self.contract_id} runs until {self.period_end}; it cannot expire on "
                f"{on}")
        self._expired(expired_on=on)

    @event("Expired")
    def _expired(self, expired_on: date) -> None:
        self.status = "expired"

    def status_fact(self) -> ContractStatus:
        """The contract as the elder's timeline and profile show it."""
        return ContractStatus(
            contract_id=self.contract_id, organisation=self.organisation, team=self.team,
            status=self.status, period_start=self.period_start, period_end=self.period_end,
            packages=self.packages, reason_code=self.reason_code,
            reason=TERMINATION_REASONS.get(self.reason_code, ""))


class ElderContractGuard(Aggregate):
    """Which contract is in force for one elder; every signing writes it, so only one wins."""

    @staticmethod
    def create_id(elder_id: UUID) -> UUID:
        return uuid5(GUARD_NAMESPACE, str(elder_id))

    @event("Opened")
    def __init__(self, elder_id: UUID):
        self.elder_id = elder_id
        self.contract: UUID | None = None
        self.team = ""
        self.period_end: date | None = None

    def check_free_for(self, contract: UUID, team: str, on: date) -> None:
        """One team at a time: another contract must be ended, or past its period, first."""
        if self.contract in (None, contract):
            return
        if self.period_end is not None and self.period_end < on:
            return
        raise TeamAlreadyContracted(
            f"this elder already has a contract in force with team {self.team} until "
            f"{self.period_end}; terminate it or let it expire before signing with {team}")

    @event("Occupied")
    def occupy(self, contract: UUID, team: str, period_end: date) -> None:
        self.contract = contract
        self.team = team
        self.period_end = period_end

    @event("Released")
    def release(self, contract: UUID) -> None:
        if self.contract == contract:
            self.contract = None
            self.team = ""
            self.period_end = None


@dataclass(frozen=True)
class ContractCommand:
    """What a contract record asks for: sign, renew, terminate or expire (plain data)."""

    action: str
    organisation: str
    contract_id: str
    on: date
    team: str = ""
    period_start: date | None = None
    period_end: date | None = None
    packages: tuple[str, ...] = ()
    reason_code: str = ""
    location: str = ""  # where the sender's record states the action, for refusals


def execute(command: ContractCommand, elder_id: UUID,
            get: Callable[[UUID], Any]) -> tuple[list[Aggregate], ContractStatus]:
    """Apply a contract command; returns the aggregates to save and the fact for the timeline.

    `get` returns an aggregate by id or None. Raises a ContractError when a rule is broken.
    """
    contract_id = FamilyDoctorContract.create_id(command.organisation, command.contract_id)
    contract: FamilyDoctorContract | None = get(contract_id)
    guard: ElderContractGuard = get(ElderContractGuard.create_id(elder_id)) \
        or ElderContractGuard(elder_id=elder_id)
    if command.action == SIGN:
        if contract is not None:
            raise ContractError(f"contract {command.contract_id} was already signed")
        if command.period_start is None or command.period_end is None:
            raise InvalidContractTerms("a signing needs a period start and end")
        FamilyDoctorContract.check_period(command.period_start, command.period_end)
        guard.check_free_for(contract_id, command.team, command.on)
        contract = FamilyDoctorContract(
            elder_id=elder_id, organisation=command.organisation,
            contract_id=command.contract_id, team=command.team,
            period_start=command.period_start, period_end=command.period_end,
            packages=command.packages, signed_on=command.on)
        guard.occupy(contract=contract_id, team=command.team, period_end=command.period_end)
        return [contract, guard], contract.status_fact()
    if contract is None:
        raise UnknownContract(f"contract {command.contract_id} of {command.organisation} "
                              "was never signed here")
    if command.action == RENEW:
        new_end = command.period_end or contract.period_end + timedelta(days=365)
        guard.check_free_for(contract_id, contract.team, command.on)
        contract.renew(period_end=new_end, on=command.on)
        guard.occupy(contract=contract_id, team=contract.team, period_end=new_end)
    elif command.action == TERMINATE:
        contract.terminate(reason_code=command.reason_code, on=command.on)
        guard.release(contract=contract_id)
    elif command.action == EXPIRE:
        contract.expire(on=command.on)
        guard.release(contract=contract_id)
    else:
        raise ContractError(f"unknown contract action {command.action!r}")
    return [contract, guard], contract.status_fact()
