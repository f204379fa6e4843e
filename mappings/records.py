"""Family-doctor and care-home records (a CSV row or a JSON record) → facts about one elder.

Pure translation. Every record names its organisation and its own record id (the natural key),
the kind of record, the elder's 身份证号 and when it happened. Column names may be English or
Chinese (see `FIELDS` and docs/records.md). A bad record raises a MappingError whose problems name
the row and column in the sender's terms.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.application import MappedMessage, SubjectRecord
from hub.contracts import EXPIRE, RENEW, SIGN, TERMINATE, ContractCommand
from hub.facts import (
    AbilityAssessment,
    AnnualCheck,
    CareLevelChange,
    CareStay,
    DatedFact,
    Demographics,
    EmergencyCall,
    Fact,
    FollowUp,
    Incident,
    Medication,
    Observation,
    Score,
    ServiceDelivered,
)
from hub.values import Coding, Problem
from mappings import assessment, codes, identifiers
from mappings.errors import MappingError

LOINC = "http://loinc.org"
FAMILY_DOCTOR, CARE_HOME = "family_doctor", "care_home"

# English name → Chinese name. Either may head a CSV column or key a JSON record.
FIELDS: dict[str, str] = {
    "organisation": "机构编码", "record_id": "记录编号", "record_type": "记录类型",
    "resident_id": "身份证号", "name": "姓名", "occurred_at": "发生时间",
    # contracts
    "contract_id": "签约编号", "action": "操作", "team": "团队", "period_start": "开始日期",
    "period_end": "结束日期", "packages": "服务包", "reason_code": "解约原因",
    # follow-ups and annual checks
    "programme": "随访项目", "visit_way": "随访方式", "systolic": "收缩压", "diastolic": "舒张压",
    "glucose": "血糖", "weight": "体重", "heart_rate": "心率", "adherence": "服药依从性",
    "classification": "此次随访分类", "next_visit": "下次随访日期", "doctor": "医生",
    "temperature": "体温", "respiratory_rate": "呼吸频率", "spo2": "血氧饱和度", "waist": "腰围",
    "self_care_score": "生活自理能力评分", "conclusion": "结论",
    # care-home stays and levels
    "stay_id": "入住编号", "bed": "床位", "care_level": "护理等级", "from_level": "原护理等级",
    "category": "入住类别", "reason": "原因",
    # assessments
    "assessment_id": "评估编号", "standard": "评估标准", "items": "评估条目", "coma": "昏迷",
    "diagnoses": "精神诊断", "risk_events_30d": "近30天风险事件次数", "level": "评估等级",
    "adl_score": "日常生活活动得分", "assessors": "评估员",
    # incidents, calls, services, medication
    "incident_type": "事件类型", "severity": "严重程度", "description": "描述",
    "call_id": "呼叫编号", "status": "状态", "service_type": "服务类型", "note": "备注",
    "drug_code": "药品编码", "drug": "药品名称", "dosage": "剂量", "route": "给药途径",
}
ENGLISH = {chinese: english for english, chinese in FIELDS.items()}
COMMON = ("organisation", "record_id", "record_type", "resident_id", "occurred_at")

RECORD_TYPES: dict[str, tuple[str, str]] = {  # type → (Chinese name, source kind)
    "contract": ("签约", FAMILY_DOCTOR), "follow_up": ("随访", FAMILY_DOCTOR),
    "annual_check": ("年度体检", FAMILY_DOCTOR), "admission": ("入住", CARE_HOME),
    "discharge": ("退住", CARE_HOME), "care_level": ("护理等级", CARE_HOME),
    "vital_signs": ("生命体征", CARE_HOME), "assessment": ("能力评估", CARE_HOME),
    "incident": ("风险事件", CARE_HOME), "emergency_call": ("平安铃", CARE_HOME),
    "service": ("服务", CARE_HOME), "medication": ("用药", CARE_HOME),
}
_TYPE_BY_NAME = {name: kind for kind, (name, _) in RECORD_TYPES.items()}

CONTRACT_ACTIONS = {"签约": SIGN, "续约": RENEW, "解约": TERMINATE, "到期": EXPIRE,
                    SIGN: SIGN, RENEW: RENEW, TERMINATE: TERMINATE, EXPIRE: EXPIRE}
PROGRAMMES = {"高血压": "hypertension", "糖尿病": "diabetes", "hypertension": "hypertension",
              "diabetes": "diabetes"}
ADHERENCE = {"1": "规律", "2": "间断", "3": "不服药", "4": "拒绝服药"}
CLASSIFICATION = {"1": "控制满意", "2": "控制不满意", "3": "不良反应", "4": "并发症"}
DISCHARGE_REASONS = {"0": "死亡", "1": "正常", "2": "保留"}
INCIDENT_TYPES = {"fall": "跌倒", "choking": "噎食", "wandering": "走失",
                  "pressure_injury": "压力性损伤", "self_harm": "自伤"}
SERVICE_TYPES = {"meal": "助餐", "bath": "助浴", "medical": "助医"}
CALL_STATUSES = {"呼叫": "raised", "响应": "acknowledged", "处置完毕": "resolved",
                 "raised": "raised", "acknowledged": "acknowledged", "resolved": "resolved"}
INCIDENT_SYSTEM = "urn:yyhub:care-risk-event"
SERVICE_SYSTEM = "urn:yyhub:care-service"
ADHERENCE_SYSTEM = "urn:yyhub:medication-adherence"
CLASSIFICATION_SYSTEM = "urn:yyhub:follow-up-classification"
DISCHARGE_SYSTEM = "urn:yyhub:discharge-reason"
DRUG_SYSTEM = "urn:yyhub:drug"

# (field, LOINC, name, UCUM unit)
VITALS = (("heart_rate", "8867-4", "心率", "/min"), ("temperature", "8310-5", "体温", "Cel"),
          ("respiratory_rate", "9279-1", "呼吸频率", "/min"),
          ("spo2", "59408-5", "血氧饱和度", "%"), ("glucose", "15074-8", "血糖", "mmol/L"),
          ("weight", "29463-7", "体重", "kg"), ("waist", "8280-0", "腰围", "cm"))


@dataclass(frozen=True)
class MappedRecord:
    """One record's natural key, where it comes from, and the message it maps to."""

    organisation: str
    record_id: str
    record_type: str
    source_kind: str
    mapped: MappedMessage


def record_type(name: str) -> str:
    """The English record type for an English or Chinese name (unchanged if unknown)."""
    return _TYPE_BY_NAME.get(name.strip(), name.strip())


def english_keys(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with Chinese column names turned into the English ones."""
    return {ENGLISH.get(str(k).strip(), str(k).strip()): v for k, v in record.items()}


def known_column(name: str) -> bool:
    """Whether a column or key is documented, in English or Chinese."""
    name = name.strip()
    return name in FIELDS or name in ENGLISH


class _Reader:
    """Reads fields of one record, collecting problems that name the sender's column."""

    def __init__(self, record: Mapping[str, Any], where: Callable[[str], str], zone: tzinfo):
        self.values = english_keys(record)
        self.where = where
        self.zone = zone
        self.problems: list[Problem] = []

    def bad(self, field: str, message: str, code: str = "invalid-value") -> None:
        self.problems.append(Problem(code, message, self.where(field)))

    def text(self, field: str, required: bool = False) -> str:
        value = self.values.get(field)
        text = "" if value is None else str(value).strip()
        if required and not text:
            self.bad(field, f"{field} ({FIELDS.get(field, field)}) is required", "required")
        return text

    def code(self, field: str, table: Mapping[str, str], required: bool = False) -> str:
        text = self.text(field, required)
        if text and text not in table:
            self.bad(field, f"{text!r} is not one of {', '.join(table)}")
            return ""
        return text

    def number(self, field: str, low: float, high: float) -> Decimal | None:
        text = self.text(field)
        if not text:
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            self.bad(field, f"{text!r} is not a number")
            return None
        if not value.is_finite():
            self.bad(field, f"{text!r} is not a number")
            return None
        if not low <= value <= high:
            self.bad(field, f"{text} is outside the plausible range {low}–{high}")
            return None
        return value

    def integer(self, field: str, low: int, high: int) -> int | None:
        value = self.number(field, low, high)
        if value is not None and value != int(value):
            self.bad(field, f"{value} is not a whole number")
            return None
        return None if value is None else int(value)

    def day(self, field: str, required: bool = False) -> date | None:
        text = self.text(field, required)
        if not text:
            return None
        try:
            return parse_date(text)
        except ValueError:
            self.bad(field, f"{text!r} is not a date (YYYY-MM-DD)")
            return None

    def instant(self, field: str) -> datetime | None:
        text = self.text(field, required=True)
        if not text:
            return None
        try:
            return parse_instant(text, self.zone)
        except ValueError:
            self.bad(field, f"{text!r} is not a time (YYYY-MM-DD HH:MM, optional offset)")
            return None

    def flag(self, field: str) -> bool:
        return self.text(field).lower() in ("1", "true", "yes", "y", "是")

    def listed(self, field: str) -> tuple[str, ...]:
        value = self.values.get(field)
        if isinstance(value, list | tuple):
            return tuple(str(v).strip() for v in value if str(v).strip())
        return tuple(p.strip() for p in re.split(r"[;；,，、|]", self.text(field)) if p.strip())

    def scores(self, field: str) -> dict[str, int]:
        value = self.values.get(field)
        if isinstance(value, Mapping):
            pairs = [(str(k), str(v)) for k, v in value.items()]
        else:
            pairs = [tuple(p.split("=", 1)) if "=" in p else (p, "")  # type: ignore[misc]
                     for p in self.listed(field)]
        result: dict[str, int] = {}
        for key, score in pairs:
            try:
                result[key.strip()] = int(score)
            except ValueError:
                self.bad(field, f"item {key.strip()!r} has no whole-number score ({score!r})")
        return result


def parse_date(text: str) -> date:
    digits = re.sub(r"[年月/.]", "-", text.strip()).rstrip("日")
    if re.fullmatch(r"\d{8}", digits):
        digits = f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"
    year, month, day = (int(p) for p in digits.split("-"))
    return date(year, month, day)


def parse_instant(text: str, zone: tzinfo) -> datetime:
    """ISO 8601 or `YYYY-MM-DD HH:MM[:SS]`; a time without offset is local; a date is midnight."""
    text = text.strip()
    if re.fullmatch(r"[\d/.\-年月日]+", text):
        return datetime.combine(parse_date(text), time(), zone)
    value = datetime.fromisoformat(text.replace("/", "-"))
    return value if value.tzinfo else value.replace(tzinfo=zone)


def record_from(record: Mapping[str, Any], where: Callable[[str], str],
                zone: tzinfo) -> MappedRecord:
    """Map one record; raises MappingError with every problem found, each naming its column."""
    r = _Reader(record, where, zone)
    organisation = r.text("organisation", required=True)
    record_id = r.text("record_id", required=True)
    raw_type = r.text("record_type", required=True)
    kind = record_type(raw_type)
    if raw_type and kind not in RECORD_TYPES:
        r.bad("record_type", f"{raw_type!r} is not a known record type "
                             f"({', '.join(RECORD_TYPES)})")
    national = r.text("resident_id", required=True)
    identifier = identifiers.resident_id(national) if national else None
    if identifier is not None and not identifier.linkable:
        r.bad("resident_id", f"{national!r} is not a valid 身份证号 (GB 11643 check digit or "
                             "birth date)")
    occurred_at = r.instant("occurred_at")
    facts: list[Fact] = []
    contract = None
    if kind in RECORD_TYPES:
        # Build even without a time, so one answer names every mistake in the record.
        build = _BUILDERS[kind]
        built = build(r, organisation, record_id, occurred_at or datetime(2000, 1, 1, tzinfo=zone))
        if isinstance(built, ContractCommand):
            contract = built
            if built.action == SIGN and identifier is not None and identifier.linkable:
                facts.append(_demographics(r, national))
        else:
            facts.extend(built)
            if kind in ("admission", "annual_check") and identifier is not None \
                    and identifier.linkable:
                facts.append(_demographics(r, national))
    if r.problems:
        raise MappingError(tuple(r.problems))
    assert identifier is not None and occurred_at is not None
    subject = SubjectRecord((identifier,), tuple(DatedFact(f, occurred_at) for f in facts),
                            occurred_at, contract)
    warnings = _age_warnings(kind, identifier.value, occurred_at, r)
    return MappedRecord(organisation, record_id, kind, RECORD_TYPES[kind][1],
                        MappedMessage(organisation, (subject,), warnings))


def _age_warnings(kind: str, national: str, occurred_at: datetime,
                  r: _Reader) -> tuple[Problem, ...]:
    """The annual check is a 65+ service; a younger elder's is kept, with a warning."""
    if kind != "annual_check":
        return ()
    birth = parse_date(national[6:14])
    day = occurred_at.date()
    age = day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
    if age >= 65:
        return ()
    return (Problem("below-65", f"the annual health check is for residents aged 65 or over; "
                    f"this elder was {age}", r.where("resident_id"), severity="warning"),)


def _demographics(r: _Reader, national: str) -> Demographics:
    """Name from the record; sex and birth date from the 身份证号 itself."""
    sex = codes.sex("1" if int(national[16]) % 2 else "2")
    birth = parse_date(national[6:14])
    return Demographics(name=r.text("name"), family=r.text("name")[:1],
                        given=r.text("name")[1:], sex=sex, birth_date=birth)


def _contract(r: _Reader, organisation: str, record_id: str,
              occurred_at: datetime) -> ContractCommand:
    action = CONTRACT_ACTIONS.get(r.code("action", CONTRACT_ACTIONS, required=True), "")
    team = r.text("team", required=action == SIGN)
    start = r.day("period_start", required=action == SIGN)
    end = r.day("period_end", required=action == SIGN)
    reason = r.text("reason_code", required=action == TERMINATE)
    if reason and reason not in ("1", "2", "3", "4", "5"):
        r.bad("reason_code", f"解约原因 must be 1–5 (FC_Stop_Reason), not {reason!r}")
    packages = r.listed("packages")
    return ContractCommand(action=action, organisation=organisation,
                           contract_id=r.text("contract_id", required=True),
                           on=occurred_at.astimezone(r.zone).date(), team=team,
                           period_start=start,
                           period_end=end, packages=packages, reason_code=reason,
                           location=r.where("action"))


def _observation(organisation: str, record_id: str, code: str, name: str, value: Decimal,
                 unit: str) -> Observation:
    return Observation(code=Coding(LOINC, code, name), observation_id=f"{organisation}|"
                       f"{record_id}|{code}", value_quantity=value, unit=unit, unit_code=unit,
                       category="vital-signs")


def _vitals(r: _Reader, organisation: str, record_id: str,
            glucose_code: str = "15074-8") -> list[Fact]:
    facts: list[Fact] = []
    systolic = r.integer("systolic", 40, 300)
    diastolic = r.integer("diastolic", 20, 200)
    if bool(r.text("systolic")) != bool(r.text("diastolic")):
        r.bad("diastolic" if r.text("systolic") else "systolic",
              "blood pressure needs both 收缩压 and 舒张压")
    elif systolic is not None and diastolic is not None:
        parts = (_observation(organisation, record_id, "8480-6", "收缩压", Decimal(systolic),
                              "mm[Hg]"),
                 _observation(organisation, record_id, "8462-4", "舒张压", Decimal(diastolic),
                              "mm[Hg]"))
        facts.append(Observation(code=Coding(LOINC, "85354-9", "血压"),
                                 observation_id=f"{organisation}|{record_id}|85354-9",
                                 unit="mm[Hg]", category="vital-signs", components=parts))
    ranges = {"heart_rate": (20, 250), "temperature": (30, 45), "respiratory_rate": (4, 80),
              "spo2": (40, 100), "glucose": (1, 40), "weight": (20, 250), "waist": (40, 200)}
    for field, code, name, unit in VITALS:
        value = r.number(field, *ranges[field])
        if value is not None:
            if field == "glucose":
                code, name = glucose_code, "空腹血糖" if glucose_code == "14771-0" else name
            facts.append(_observation(organisation, record_id, code, name, value, unit))
    return facts


def _follow_up(r: _Reader, organisation: str, record_id: str,
               occurred_at: datetime) -> list[Fact]:
    programme = PROGRAMMES.get(r.code("programme", PROGRAMMES, required=True), "")
    adherence = r.code("adherence", ADHERENCE)
    classification = r.code("classification", CLASSIFICATION, required=True)
    readings = _vitals(r, organisation, record_id, glucose_code="14771-0")
    values = {f: r.values.get(f) for f in ("systolic", "diastolic")}
    follow_up = FollowUp(
        visit_id=record_id, programme=programme, visit_way=r.text("visit_way"),
        systolic=int(values["systolic"]) if _is_int(values["systolic"]) else None,
        diastolic=int(values["diastolic"]) if _is_int(values["diastolic"]) else None,
        glucose=_decimal(r.values.get("glucose")), weight=_decimal(r.values.get("weight")),
        adherence=Coding(ADHERENCE_SYSTEM, adherence, ADHERENCE[adherence]) if adherence
        else None,
        classification=Coding(CLASSIFICATION_SYSTEM, classification,
                              CLASSIFICATION[classification]) if classification else None,
        next_visit=r.day("next_visit"), doctor=r.text("doctor"))
    return [follow_up, *readings]


def _is_int(value: Any) -> bool:
    return str(value or "").strip().isdigit()


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value).strip()) if str(value or "").strip() else None
    except InvalidOperation:
        return None


def _annual_check(r: _Reader, organisation: str, record_id: str,
                  occurred_at: datetime) -> list[Fact]:
    readings = _vitals(r, organisation, record_id)
    return [AnnualCheck(check_id=record_id,
                        self_care_score=r.integer("self_care_score", 0, 100),
                        conclusion=r.text("conclusion"), doctor=r.text("doctor")), *readings]


def _stay(event: str) -> Callable[..., list[Fact]]:
    def build(r: _Reader, organisation: str, record_id: str,
              occurred_at: datetime) -> list[Fact]:
        reason = r.code("reason", DISCHARGE_REASONS, required=event == "discharged")
        return [CareStay(stay_id=r.text("stay_id") or record_id, care_home=organisation,
                         event=event, bed=r.text("bed", required=event == "admitted"),
                         care_level=r.text("care_level"), category=r.text("category"),
                         reason=Coding(DISCHARGE_SYSTEM, reason, DISCHARGE_REASONS[reason])
                         if reason else None)]
    return build


def _care_level(r: _Reader, organisation: str, record_id: str,
                occurred_at: datetime) -> list[Fact]:
    return [CareLevelChange(care_home=organisation, from_level=r.text("from_level"),
                            to_level=r.text("care_level", required=True),
                            assessment_id=r.text("assessment_id"))]


def _vital_signs(r: _Reader, organisation: str, record_id: str,
                 occurred_at: datetime) -> list[Fact]:
    facts = _vitals(r, organisation, record_id)
    if not facts and not r.problems:
        r.bad("systolic", "a vital-signs record needs at least one reading", "required")
    return facts


def _assessment(r: _Reader, organisation: str, record_id: str,
                occurred_at: datetime) -> list[Fact]:
    standard = r.text("standard") or assessment.GBT_42195
    where = r.where("items")
    try:
        if standard == assessment.GBT_42195:
            risk = r.integer("risk_events_30d", 0, 100) or 0
            result = assessment.score_gbt_42195(
                r.scores("items"), coma=r.flag("coma"), diagnoses=r.listed("diagnoses"),
                risk_events_30d=risk, location=where)
        elif standard == assessment.BARTHEL:
            result = assessment.barthel(r.scores("items"), location=where)
        elif standard == assessment.MZT_039:
            level = r.integer("level", 0, 3)
            if level is None:
                r.bad("level", "MZ/T 039-2013 assessments carry the level (0–3) graded by the "
                               "source", "required")
                return []
            result = assessment.mzt_039(level, r.integer("adl_score", 0, 100),
                                        location=r.where("level"))
        else:
            r.bad("standard", f"{standard!r} is not one of {assessment.GBT_42195}, "
                              f"{assessment.MZT_039}, {assessment.BARTHEL}")
            return []
    except MappingError as error:
        r.problems.extend(error.problems)
        return []
    names = {**{c: n for c, (n, _) in assessment.ITEMS.items()},
             **{c: n for c, (n, _) in assessment.BARTHEL_ITEMS.items()}}
    return [AbilityAssessment(
        assessment_id=r.text("assessment_id") or record_id, standard_version=standard,
        items=tuple(Score(c, names.get(c, c), s) for c, s in result.item_scores),
        domains=tuple(Score(c, assessment.DOMAIN_NAMES.get(c, c), s)
                      for c, s in result.domain_scores),
        total=result.total, initial_level=result.initial_level, level=result.level,
        level_display=result.level_display, adjustments=result.adjustments,
        reason=r.text("reason"), assessors=r.listed("assessors"))]


def _incident(r: _Reader, organisation: str, record_id: str,
              occurred_at: datetime) -> list[Fact]:
    by_name = {**INCIDENT_TYPES, **{v: k for k, v in INCIDENT_TYPES.items()}}
    raw = r.code("incident_type", by_name, required=True)
    code = raw if raw in INCIDENT_TYPES else by_name.get(raw, "")
    return [Incident(incident_id=record_id,
                     incident_type=Coding(INCIDENT_SYSTEM, code, INCIDENT_TYPES[code])
                     if code else None,
                     severity=r.text("severity"), description=r.text("description"))]


def _emergency_call(r: _Reader, organisation: str, record_id: str,
                    occurred_at: datetime) -> list[Fact]:
    status = CALL_STATUSES.get(r.code("status", CALL_STATUSES, required=True), "")
    return [EmergencyCall(call_id=r.text("call_id", required=True), status=status,
                          note=r.text("note"))]


def _service(r: _Reader, organisation: str, record_id: str,
             occurred_at: datetime) -> list[Fact]:
    by_name = {**SERVICE_TYPES, **{v: k for k, v in SERVICE_TYPES.items()}}
    raw = r.code("service_type", by_name, required=True)
    code = raw if raw in SERVICE_TYPES else by_name.get(raw, "")
    return [ServiceDelivered(service=Coding(SERVICE_SYSTEM, code, SERVICE_TYPES[code])
                             if code else None, note=r.text("note"))]


def _medication(r: _Reader, organisation: str, record_id: str,
                occurred_at: datetime) -> list[Fact]:
    drug = r.text("drug", required=True)
    return [Medication(medication=Coding(DRUG_SYSTEM, r.text("drug_code"), drug),
                       record_id=record_id, status="administered", dosage=r.text("dosage"),
                       route=r.text("route"))]


_BUILDERS: dict[str, Callable[..., Any]] = {
    "contract": _contract, "follow_up": _follow_up, "annual_check": _annual_check,
    "admission": _stay("admitted"), "discharge": _stay("discharged"),
    "care_level": _care_level, "vital_signs": _vital_signs, "assessment": _assessment,
    "incident": _incident, "emergency_call": _emergency_call, "service": _service,
    "medication": _medication,
}
