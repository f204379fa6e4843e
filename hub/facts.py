"""What the hub knows about an elder: one frozen dataclass per kind of fact.

Facts are recorded on the elder's stream by `Elder.record_facts`, each with the time it happened
(`occurred_at`), one message's facts in one event with their source. Each fact names its `kind`
(for the timeline and filters) and a `key`: two facts with the same kind and key describe the
same thing (the same allergy, the same visit), and the one that happened later is current.
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
    # A profile field holding the single latest fact of this kind by occurred_at ("" = none).
    current: ClassVar[str] = ""

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


@value_type
@dataclass(frozen=True)
class Score:
    """One scored item or domain of an assessment (code, name, points)."""

    code: str = ""
    name: str = ""
    score: int = 0


@value_type
@dataclass(frozen=True)
class ContractStatus(Fact):
    """A family-doctor contract as it stands after a signing, renewal, termination or expiry."""

    kind: ClassVar[str] = "contract"
    section: ClassVar[str] = "contracts"
    current: ClassVar[str] = "current_contract"
    contract_id: str = ""
    organisation: str = ""
    team: str = ""
    status: str = ""  # signed | renewed | terminated | expired
    period_start: date | None = None
    period_end: date | None = None
    packages: tuple[str, ...] = ()
    reason_code: str = ""
    reason: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.organisation}|{self.contract_id}"

    def summary(self) -> str:
        label = {"signed": "签约", "renewed": "续约", "terminated": "解约",
                 "expired": "到期"}.get(self.status, self.status)
        why = f" 原因: {self.reason}" if self.reason else ""
        return (f"家庭医生{label}: {self.team} {self.period_start}至{self.period_end}{why}")


@value_type
@dataclass(frozen=True)
class CareStay(Fact):
    """An admission to (入住) or discharge from (退住) a care home."""

    kind: ClassVar[str] = "care_stay"
    section: ClassVar[str] = "care_stays"
    current: ClassVar[str] = "current_care_home"
    stay_id: str = ""
    care_home: str = ""
    event: str = ""  # admitted | discharged
    bed: str = ""
    care_level: str = ""
    category: str = ""  # 入住类别: 五保 | 低保 | 社会化
    reason: Coding | None = None  # 退住原因: 0 死亡, 1 正常, 2 保留

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.care_home}|{self.stay_id}"

    def summary(self) -> str:
        if self.event == "discharged":
            why = self.reason.display if self.reason else ""
            return f"退住: {self.care_home} {why}".strip()
        return f"入住: {self.care_home} 床位 {self.bed} 护理等级 {self.care_level}".strip()


@value_type
@dataclass(frozen=True)
class CareLevelChange(Fact):
    """护理等级 set or changed (logged even when unchanged), usually after an assessment."""

    kind: ClassVar[str] = "care_level"
    current: ClassVar[str] = "care_level"
    care_home: str = ""
    from_level: str = ""
    to_level: str = ""
    assessment_id: str = ""

    def summary(self) -> str:
        return f"护理等级: {self.from_level or '—'} → {self.to_level}"


@value_type
@dataclass(frozen=True)
class AbilityAssessment(Fact):
    """An ability assessment with its standard version; the level is never re-scored later."""

    kind: ClassVar[str] = "assessment"
    current: ClassVar[str] = "latest_assessment"
    assessment_id: str = ""
    standard_version: str = ""
    items: tuple[Score, ...] = ()
    domains: tuple[Score, ...] = ()
    total: int = 0
    initial_level: int = 0
    level: int = 0
    level_display: str = ""
    adjustments: tuple[str, ...] = ()
    reason: str = ""
    assessors: tuple[str, ...] = ()

    def summary(self) -> str:
        return f"能力评估 ({self.standard_version}): {self.level_display} 总分 {self.total}"


@value_type
@dataclass(frozen=True)
class Incident(Fact):
    """A care-risk event: fall, choking, wandering, pressure injury, self-harm."""

    kind: ClassVar[str] = "incident"
    incident_id: str = ""
    incident_type: Coding | None = None
    severity: str = ""
    description: str = ""

    def summary(self) -> str:
        label = self.incident_type.display if self.incident_type else ""
        return f"风险事件: {label} {self.severity} {self.description}".strip()


@value_type
@dataclass(frozen=True)
class EmergencyCall(Fact):
    """A 平安铃 emergency call raised, acknowledged or resolved (timestamped for SLAs)."""

    kind: ClassVar[str] = "emergency_call"
    call_id: str = ""
    status: str = ""  # raised | acknowledged | resolved
    note: str = ""

    def summary(self) -> str:
        label = {"raised": "呼叫", "acknowledged": "响应", "resolved": "处置完毕"}.get(
            self.status, self.status)
        return f"平安铃{label}: {self.note}".rstrip(": ")


@value_type
@dataclass(frozen=True)
class ServiceDelivered(Fact):
    """A service delivered: 助餐, 助浴, 助医."""

    kind: ClassVar[str] = "service"
    service: Coding | None = None
    note: str = ""

    def summary(self) -> str:
        return f"服务: {self.service.display if self.service else ''} {self.note}".strip()


@value_type
@dataclass(frozen=True)
class FollowUp(Fact):
    """A family doctor's hypertension or diabetes follow-up; its readings are also observations."""

    kind: ClassVar[str] = "follow_up"
    section: ClassVar[str] = "follow_ups"
    visit_id: str = ""
    programme: str = ""  # hypertension | diabetes
    visit_way: str = ""
    systolic: int | None = None
    diastolic: int | None = None
    glucose: Decimal | None = None
    weight: Decimal | None = None
    adherence: Coding | None = None  # 服药依从性 1 规律 2 间断 3 不服药 4 拒绝服药
    classification: Coding | None = None  # 此次随访分类 1 控制满意 … 4 并发症
    next_visit: date | None = None
    doctor: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.programme}"

    def summary(self) -> str:
        label = {"hypertension": "高血压", "diabetes": "糖尿病"}.get(self.programme,
                                                                  self.programme)
        cls = self.classification.display if self.classification else ""
        return f"{label}随访: {cls}".strip()


@value_type
@dataclass(frozen=True)
class AnnualCheck(Fact):
    """The yearly health check for residents aged 65+; its readings are also observations."""

    kind: ClassVar[str] = "annual_check"
    section: ClassVar[str] = "annual_checks"
    check_id: str = ""
    self_care_score: int | None = None
    conclusion: str = ""
    doctor: str = ""

    @property
    def key(self) -> str:
        return self.kind

    def summary(self) -> str:
        return f"65岁以上老年人年度体检: {self.conclusion}".strip()


FACT_KINDS.update({cls.kind: cls for cls in (
    ContractStatus, CareStay, CareLevelChange, AbilityAssessment, Incident, EmergencyCall,
    ServiceDelivered, FollowUp, AnnualCheck)})


# Personal data of these kinds is contact data (destroyed at once on erasure); every other kind
# is clinical (kept for the retention period). One event never mixes the two.
CONTACT_FACT_KINDS = frozenset({"demographics", "contact"})


@value_type
@dataclass(frozen=True)
class DatedFact:
    """A fact and the moment it happened according to its source."""

    fact: Fact
    occurred_at: datetime

    @property
    def is_contact_data(self) -> bool:
        return self.fact.kind in CONTACT_FACT_KINDS
