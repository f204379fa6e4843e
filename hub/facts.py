"""What the hub knows about an elder: one frozen dataclass per kind of fact.

A fact is recorded on the elder's stream by `Elder.record_fact`, with its source and the time it
happened (`occurred_at`). Each fact names its `kind` (for the timeline and filters) and a `key`:
two facts with the same kind and key describe the same thing (the same allergy, the same visit),
and the one that happened later is current.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

from hub.values import Coding, value_type


@dataclass(frozen=True)
class Fact:
    """Base of every fact kind."""

    kind: ClassVar[str] = "fact"

    @property
    def key(self) -> str:
        return self.kind

    def summary(self) -> str:
        """One line for people reading a timeline."""
        return self.kind


@value_type
@dataclass(frozen=True)
class Demographics(Fact):
    """Name, sex, birth date and how to reach the person, as one source stated them."""

    kind: ClassVar[str] = "demographics"
    name: str = ""
    family: str = ""
    given: str = ""
    sex: Coding | None = None  # GB/T 2261.1
    birth_date: date | None = None
    ethnicity: Coding | None = None  # GB 3304
    marital_status: Coding | None = None
    address: str = ""
    phone: str = ""
    deceased_at: datetime | None = None

    def summary(self) -> str:
        parts = [self.name, self.sex.display if self.sex else "", str(self.birth_date or "")]
        return "登记信息: " + " ".join(p for p in parts if p)


@value_type
@dataclass(frozen=True)
class Contact(Fact):
    """A next of kin or other contact (HL7 NK1)."""

    kind: ClassVar[str] = "contact"
    name: str = ""
    relationship: Coding | None = None
    phone: str = ""
    address: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.name}|{self.relationship.code if self.relationship else ''}"

    def summary(self) -> str:
        rel = self.relationship.display or self.relationship.code if self.relationship else ""
        return f"联系人: {self.name} {rel} {self.phone}".strip()


@value_type
@dataclass(frozen=True)
class Allergy(Fact):
    """An allergy or intolerance (HL7 AL1)."""

    kind: ClassVar[str] = "allergy"
    allergen: Coding
    category: str = ""  # drug | food | environment | ...
    severity: str = ""
    reactions: tuple[str, ...] = ()
    identified_on: date | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.allergen.system}|{self.allergen.code or self.allergen.display}"

    def summary(self) -> str:
        return f"过敏: {self.allergen.display or self.allergen.code}"


@value_type
@dataclass(frozen=True)
class Diagnosis(Fact):
    """A diagnosis (HL7 DG1), kept with the code system version the sender used."""

    kind: ClassVar[str] = "diagnosis"
    condition: Coding
    diagnosis_type: str = ""  # A admitting | W working | F final
    diagnosed_at: datetime | None = None
    visit_number: str = ""
    code_system_version: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.condition.system}|{self.condition.code}|{self.visit_number}"

    def summary(self) -> str:
        return f"诊断: {self.condition.display or self.condition.code} ({self.condition.code})"


@value_type
@dataclass(frozen=True)
class Encounter(Fact):
    """A hospital visit or stay (HL7 PV1) and what happened to it (`event`: admitted, ...)."""

    kind: ClassVar[str] = "encounter"
    visit_number: str = ""
    event: str = ""  # admitted | registered | updated | pre-admitted | transferred | discharged
    patient_class: Coding | None = None
    status: str = ""  # planned | in-progress | finished | cancelled
    location: str = ""
    attending_doctor: str = ""
    hospital_service: str = ""
    admitted_at: datetime | None = None
    discharged_at: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.visit_number or self.admitted_at}"

    def summary(self) -> str:
        cls = self.patient_class.display if self.patient_class else ""
        return f"就诊: {self.event} {cls} {self.location}".strip()


FACT_KINDS: dict[str, type[Fact]] = {
    cls.kind: cls for cls in (Demographics, Contact, Allergy, Diagnosis, Encounter)
}
