"""What the hub knows about an elder: one frozen dataclass per kind of fact.

A fact is recorded on the elder's stream by `Elder.record_fact`, with its source and the time it
happened (`occurred_at`). Each fact names its `kind` (for the timeline and filters) and a `key`:
two facts with the same kind and key describe the same thing (the same allergy, the same visit),
and the one that happened later is current.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar

from hub.values import Coding, value_type


@dataclass(frozen=True)
class Fact:
    """Base of every fact kind."""

    kind: ClassVar[str] = "fact"
    # The profile section that keeps the current item per key ("" = timeline only).
    section: ClassVar[str] = ""

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
    section: ClassVar[str] = "contacts"
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
    section: ClassVar[str] = "allergies"
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
    section: ClassVar[str] = "diagnoses"
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
    section: ClassVar[str] = "encounters"
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


@value_type
@dataclass(frozen=True)
class Observation(Fact):
    """A measurement or finding: vital sign, lab result, device reading (ORU OBX, FHIR).

    The profile keeps the latest per code (by `occurred_at`); the timeline keeps every one.
    A corrected result carries the same `observation_id` and status `corrected`.
    """

    kind: ClassVar[str] = "observation"
    section: ClassVar[str] = "observations"
    code: Coding
    observation_id: str = ""
    value_quantity: Decimal | None = None
    value_text: str = ""
    value_coding: Coding | None = None
    unit: str = ""
    unit_code: str = ""  # UCUM where known
    reference_range: str = ""
    interpretation: str = ""  # H, L, A, N ...
    status: str = "final"  # preliminary | final | corrected | cancelled | entered-in-error
    category: str = ""  # vital-signs | laboratory | device | ...
    components: tuple[Observation, ...] = ()
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.code.system}|{self.code.code}"

    def summary(self) -> str:
        value = (str(self.value_quantity) if self.value_quantity is not None
                 else self.value_coding.display if self.value_coding else self.value_text)
        if self.components:
            value = "/".join(str(c.value_quantity) for c in self.components)
        return f"观察: {self.code.display or self.code.code} {value} {self.unit}".strip()


@value_type
@dataclass(frozen=True)
class ClinicalDocument(Fact):
    """A clinical document kept as text with its metadata (MDM, DocumentReference, 出院小结)."""

    kind: ClassVar[str] = "document"
    section: ClassVar[str] = "documents"
    document_id: str = ""
    document_type: Coding | None = None
    title: str = ""
    text: str = ""
    content_type: str = "text/plain"
    status: str = "final"
    author: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.document_id or self.title}"

    def summary(self) -> str:
        return f"文书: {self.title or (self.document_type.display if self.document_type else '')}"


@value_type
@dataclass(frozen=True)
class Medication(Fact):
    """A medication ordered, taken or given (FHIR MedicationRequest/Statement, care-home 用药)."""

    kind: ClassVar[str] = "medication"
    section: ClassVar[str] = "medications"
    medication: Coding
    record_id: str = ""
    status: str = "active"  # active | completed | stopped | administered ...
    dosage: str = ""
    route: str = ""
    reason: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.medication.system}|{self.medication.code or self.medication.display}"

    def summary(self) -> str:
        return f"用药: {self.medication.display or self.medication.code} {self.dosage}".strip()


@value_type
@dataclass(frozen=True)
class Procedure(Fact):
    """A procedure performed (HL7 PR1, FHIR Procedure)."""

    kind: ClassVar[str] = "procedure"
    section: ClassVar[str] = "procedures"
    procedure: Coding
    record_id: str = ""
    status: str = "completed"
    performer: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.record_id or self.procedure.code}"

    def summary(self) -> str:
        return f"操作: {self.procedure.display or self.procedure.code}"


@value_type
@dataclass(frozen=True)
class ReferralRequested(Fact):
    """A referral as a fact (HL7 REF^I12, FHIR ServiceRequest); the workflow lives elsewhere."""

    kind: ClassVar[str] = "referral"
    section: ClassVar[str] = "referrals"
    referral_id: str = ""
    reason: str = ""
    urgency: str = ""
    from_organisation: str = ""
    to_organisation: str = ""
    specialty: str = ""
    status: str = "requested"

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.referral_id}"

    def summary(self) -> str:
        return f"转诊: {self.from_organisation} → {self.to_organisation} {self.reason}".strip()


@value_type
@dataclass(frozen=True)
class Immunization(Fact):
    """A vaccine given (or recorded as not given) (FHIR Immunization, HL7 VXU)."""

    kind: ClassVar[str] = "immunization"
    section: ClassVar[str] = "immunizations"
    vaccine: Coding
    record_id: str = ""
    status: str = "completed"
    lot_number: str = ""
    site: str = ""
    route: str = ""
    performer: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.record_id or self.vaccine.code}"

    def summary(self) -> str:
        return f"接种: {self.vaccine.display or self.vaccine.code} {self.status}".strip()


@value_type
@dataclass(frozen=True)
class CarePlan(Fact):
    """A care plan (护理/照护计划): what is planned for the elder, for which period."""

    kind: ClassVar[str] = "careplan"
    section: ClassVar[str] = "care_plans"
    record_id: str = ""
    title: str = ""
    status: str = "active"
    intent: str = "plan"
    categories: tuple[Coding, ...] = ()
    description: str = ""
    period_start: datetime | None = None
    period_end: datetime | None = None
    activities: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.record_id or self.title}"

    def summary(self) -> str:
        return f"照护计划: {self.title or self.description} {self.status}".strip()


@value_type
@dataclass(frozen=True)
class Consent(Fact):
    """A consent the elder (or their proxy) gave or refused, and under which policy."""

    kind: ClassVar[str] = "consent"
    section: ClassVar[str] = "consents"
    scope: Coding
    record_id: str = ""
    status: str = "active"
    categories: tuple[Coding, ...] = ()
    policy: str = ""
    provision: str = ""  # permit | deny

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.record_id or self.scope.code}"

    def summary(self) -> str:
        return f"同意书: {self.scope.display or self.scope.code} {self.status}".strip()


FACT_KINDS: dict[str, type[Fact]] = {
    cls.kind: cls for cls in (Demographics, Contact, Allergy, Diagnosis, Encounter, Observation,
                              ClinicalDocument, Medication, Procedure, ReferralRequested,
                              Immunization, CarePlan, Consent)
}
