"""One function per supported FHIR resource type: the resource → a `SubjectRecord` of facts.

Facts hold plain values (codes, numbers, instants, text); no FHIR object reaches an event. Each
record says how the sender named its subject (a reference, an identifier, a bundle entry) so the
application service can find the elder; facts about an unknown subject are refused there.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from typing import Any
from uuid import UUID

from hub.application import MergeRequest, SubjectRecord
from hub.facts import (
    Allergy,
    CarePlan,
    ClinicalDocument,
    Consent,
    Contact,
    DatedFact,
    Demographics,
    Diagnosis,
    Encounter,
    Fact,
    Immunization,
    Medication,
    Observation,
    Procedure,
    ReferralRequested,
)
from hub.identity import RESIDENT_ID_SYSTEM
from hub.values import Coding, Identifier, Problem
from mappings import codes, identifiers
from mappings.errors import MappingError

FHIR_ID_PREFIX = "urn:yyhub:fhir-id:"


def logical_id_system(sender: str) -> str:
    """Patient ids a sender gives its own resources, kept as an identifier scoped to that sender."""
    return f"{FHIR_ID_PREFIX}{sender}:Patient"


@dataclass(frozen=True)
class Context:
    """What a mapping needs besides the resource: who sent it, when, and the bundle around it."""

    sender: str
    received_at: datetime
    zone: tzinfo
    # fullUrl (and Patient/{id}) of Patient entries in the same Bundle → their identifiers
    bundle_patients: Mapping[str, tuple[Identifier, ...]] = field(default_factory=dict)
    base: str = ""  # FHIRPath prefix naming the bundle entry, for problems


# ---------------------------------------------------------------- plain values from FHIR types

def instant(value: Any, zone: tzinfo) -> datetime | None:
    """A FHIR date/dateTime/instant as an aware datetime; partial dates start at local midnight."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value, time(), zone)
    text = str(value)
    parts = [int(p) for p in text.split("-")[:3]]
    while len(parts) < 3:
        parts.append(1)
    return datetime(parts[0], parts[1], parts[2], tzinfo=zone)


def day(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    parts = [int(p) for p in str(value).split("-")[:3]]
    while len(parts) < 3:
        parts.append(1)
    return date(*parts)


def coding(concept: Any) -> Coding | None:
    """The first coding with a code (its text as display if it has none), else the text alone."""
    if concept is None:
        return None
    for c in concept.coding or ():
        if c.code:
            return Coding(c.system or "", c.code, c.display or concept.text or "")
    if concept.text:
        return Coding("", "", concept.text)
    for c in concept.coding or ():
        if c.display:
            return Coding(c.system or "", "", c.display)
    return None


def codings(concepts: Any) -> tuple[Coding, ...]:
    return tuple(c for c in (coding(x) for x in concepts or ()) if c is not None)


def text_of(concept: Any) -> str:
    found = coding(concept)
    return (found.display or found.code) if found else ""


def ref_display(reference: Any) -> str:
    if reference is None:
        return ""
    return reference.display or reference.reference or ""


def record_id(resource: Any) -> str:
    """The sender's business identifier of a record, else its `Type/id`."""
    for ident in getattr(resource, "identifier", None) or ():
        if ident.value:
            return f"{ident.system or ''}|{ident.value}"
    return f"{resource.get_resource_type()}/{resource.id}" if resource.id else ""


def first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def when(resource: Any, ctx: Context, *values: Any) -> datetime:
    """The first stated time among `values`, else when the hub received the resource."""
    for value in values:
        found = instant(value, ctx.zone)
        if found is not None:
            return found
    last_updated = resource.meta.lastUpdated if resource.meta else None
    return instant(last_updated, ctx.zone) or ctx.received_at


def period_start(period: Any) -> Any:
    return period.start if period is not None else None


# ---------------------------------------------------------------- identifiers and subjects

def identifier_from(system: str, value: str, sender: str) -> Identifier:
    """A FHIR identifier as the hub's: 身份证 validated; no system means the sender's MRN."""
    system, value = (system or "").strip(), value.strip()
    if system in (RESIDENT_ID_SYSTEM, "2.16.156.10011.1.3"):
        return identifiers.resident_id(value)
    return Identifier(system or identifiers.mrn_system(sender), value)


def patient_identifiers(patient: Any, ctx: Context) -> tuple[Identifier, ...]:
    found = [identifier_from(i.system or "", i.value, ctx.sender)
             for i in patient.identifier or () if i.value]
    if patient.id:
        found.append(Identifier(logical_id_system(ctx.sender), patient.id))
    return tuple(dict.fromkeys(found))


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def subject_record(reference: Any, path: str, ctx: Context, facts: list[DatedFact],
                   occurred_at: datetime) -> SubjectRecord:
    """Facts about the Patient a reference names; MappingError if it names none."""
    where = f"{ctx.base or path.split('.')[0]}.{path.split('.', 1)[1]}" if ctx.base else path
    if reference is None:
        raise MappingError(Problem("subject-missing", "the resource names no patient", where))
    text = (reference.reference or "").strip()
    dated = tuple(facts)
    if reference.identifier is not None and reference.identifier.value:
        ident = identifier_from(reference.identifier.system or "", reference.identifier.value,
                                ctx.sender)
        return SubjectRecord((ident,), dated, occurred_at, must_exist=True, location=where)
    if text in ctx.bundle_patients:
        return SubjectRecord(ctx.bundle_patients[text], dated, occurred_at, must_exist=True,
                             location=where)
    if text.startswith("Patient?identifier="):
        system, _, value = text.removeprefix("Patient?identifier=").rpartition("|")
        ident = identifier_from(system, value, ctx.sender)
        return SubjectRecord((ident,), dated, occurred_at, must_exist=True, location=where)
    parts = text.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
        logical = parts[-1]
        relative = f"Patient/{logical}"
        if relative in ctx.bundle_patients:
            return SubjectRecord(ctx.bundle_patients[relative], dated, occurred_at,
                                 must_exist=True, location=where)
        elder_id = UUID(logical) if _is_uuid(logical) else None
        ident = Identifier(logical_id_system(ctx.sender), logical)
        return SubjectRecord((ident,), dated, occurred_at, elder_id=elder_id, must_exist=True,
                             location=where)
    raise MappingError(Problem(
        "unresolvable-reference",
        f"subject reference {text or '(empty)'!r} does not name a Patient the hub can find",
        f"{where}.reference"))


# ---------------------------------------------------------------- one mapping per type

def patient(resource: Any, ctx: Context) -> SubjectRecord:
    ids = patient_identifiers(resource, ctx)
    if not any(i.linkable for i in ids):
        where = f"{ctx.base}.identifier" if ctx.base else "Patient.identifier"
        raise MappingError(Problem("identifier-missing",
                                   "a Patient needs an identifier (or an id) to be matched", where))
    names = resource.name or []
    name = next((n for n in names if n.use in (None, "official", "usual")), names[0] if names
                else None)
    family = (name.family or "") if name else ""
    given = " ".join(name.given or ()) if name else ""
    address = (resource.address or [None])[0]
    address_text = ""
    if address is not None:
        address_text = address.text or "".join(
            p for p in (address.country, address.state, address.city, address.district,
                        *(address.line or ()), address.postalCode) if p)
    phone = next((t.value for t in resource.telecom or () if t.system == "phone" and t.value),
                 next((t.value for t in resource.telecom or () if t.value), ""))
    occurred_at = when(resource, ctx)
    facts: list[Fact] = [Demographics(
        name=person_name(name), family=family, given=given,
        sex=codes.sex(resource.gender or ""), birth_date=day(resource.birthDate),
        marital_status=coding(resource.maritalStatus), address=address_text, phone=phone or "",
        deceased_at=instant(resource.deceasedDateTime, ctx.zone))]
    for contact in resource.contact or ():
        contact_name = person_name(contact.name)
        if not contact_name:
            continue
        facts.append(Contact(
            name=contact_name,
            relationship=coding((contact.relationship or [None])[0]),
            phone=next((t.value for t in contact.telecom or () if t.value), "") or ""))
    own = UUID(resource.id) if resource.id and _is_uuid(resource.id) else None
    return SubjectRecord(ids, tuple(DatedFact(f, occurred_at) for f in facts), occurred_at,
                         elder_id=own, merges=patient_links(resource, ctx))


def patient_links(resource: Any, ctx: Context) -> tuple[MergeRequest, ...]:
    """Patient.link `replaced-by` (this record merges into the other) and `replaces` (the other
    merges into this one); `refer` and `seealso` only point and are not merges."""
    merges = []
    for i, link in enumerate(resource.link or ()):
        if link.type not in ("replaced-by", "replaces"):
            continue
        where = f"{ctx.base or 'Patient'}.link[{i}].other"
        other = subject_record(link.other, where, ctx, [], ctx.received_at)
        merges.append(MergeRequest(other=other.identifiers, other_elder_id=other.elder_id,
                                   subject_survives=link.type == "replaces", location=where))
    return tuple(merges)


def person_name(name: Any) -> str:
    """`text` as sent; else family then given for Chinese (张无忌), given then family otherwise."""
    if name is None:
        return ""
    if name.text:
        return str(name.text)
    family, given = name.family or "", " ".join(name.given or ())
    if _is_cjk(family + given):
        return family + given.replace(" ", "")
    return " ".join(p for p in (given, family) if p)


def _is_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def encounter(r: Any, ctx: Context) -> SubjectRecord:
    period = r.period
    occurred_at = when(r, ctx, period_start(period), period.end if period else None)
    fact = Encounter(
        visit_number=record_id(r), event=r.status, status=r.status,
        patient_class=(Coding(r.class_fhir.system or "", r.class_fhir.code or "",
                              r.class_fhir.display or "") if r.class_fhir else None),
        location=" ".join(ref_display(loc.location) for loc in r.location or ()),
        attending_doctor=" ".join(ref_display(p.individual) for p in r.participant or ()
                                  if p.individual),
        hospital_service=text_of(r.serviceType),
        admitted_at=instant(period_start(period), ctx.zone),
        discharged_at=instant(period.end if period else None, ctx.zone))
    return subject_record(r.subject, "Encounter.subject", ctx,
                          [DatedFact(fact, occurred_at)], occurred_at)


def _observation_value(r: Any) -> dict[str, Any]:
    q = r.valueQuantity
    if q is not None:
        return {"value_quantity": Decimal(str(q.value)) if q.value is not None else None,
                "unit": q.unit or q.code or "", "unit_code": q.code or ""}
    if r.valueCodeableConcept is not None:
        return {"value_coding": coding(r.valueCodeableConcept)}
    for name in ("valueString", "valueBoolean", "valueInteger", "valueDateTime", "valueTime"):
        value = getattr(r, name, None)
        if value is not None:
            if name == "valueInteger":
                return {"value_quantity": Decimal(value)}
            return {"value_text": str(value).lower() if isinstance(value, bool) else str(value)}
    if getattr(r, "dataAbsentReason", None) is not None:
        return {"value_text": "", "note": f"data absent: {text_of(r.dataAbsentReason)}"}
    return {}


def _range(r: Any) -> str:
    for rr in r.referenceRange or ():
        if rr.text:
            return str(rr.text)
        low = f"{rr.low.value}" if rr.low and rr.low.value is not None else ""
        high = f"{rr.high.value}" if rr.high and rr.high.value is not None else ""
        if low or high:
            return f"{low}-{high}"
    return ""


def observation(r: Any, ctx: Context) -> SubjectRecord:
    code = coding(r.code) or Coding("", "", "")
    components = tuple(Observation(code=coding(c.code) or Coding("", "", ""),
                                   status=r.status, **_observation_value(c))
                       for c in r.component or ())
    values = _observation_value(r)
    note = " ".join(n.text for n in r.note or () if n.text)
    fact = Observation(
        code=code, observation_id=record_id(r), status=r.status,
        reference_range=_range(r),
        interpretation=" ".join(c.code or "" for i in r.interpretation or ()
                                for c in (i.coding or [])[:1]),
        category=" ".join(c.code or "" for cat in r.category or ()
                          for c in (cat.coding or [])[:1]),
        components=components,
        **{**values, "note": " ".join(p for p in (values.get("note", ""), note) if p)})
    occurred_at = when(r, ctx, r.effectiveDateTime, r.effectiveInstant,
                       period_start(r.effectivePeriod), r.issued)
    return subject_record(r.subject, "Observation.subject", ctx,
                          [DatedFact(fact, occurred_at)], occurred_at)


def condition(r: Any, ctx: Context) -> SubjectRecord:
    onset = first(r.onsetDateTime, period_start(r.onsetPeriod))
    code = coding(r.code)
    if code is None:
        raise MappingError(Problem("code-missing", "a Condition needs a code",
                                   f"{ctx.base or 'Condition'}.code"))
    fact = Diagnosis(
        condition=code,
        diagnosis_type=" ".join(c.code or "" for cat in r.category or ()
                                for c in (cat.coding or [])[:1]),
        diagnosed_at=instant(first(onset, r.recordedDate), ctx.zone),
        visit_number=r.encounter.reference or "" if r.encounter else "",
        code_system_version=next((c.version for c in r.code.coding or () if c.version), "")
        if r.code else "")
    occurred_at = when(r, ctx, onset, r.recordedDate)
    return subject_record(r.subject, "Condition.subject", ctx,
                          [DatedFact(fact, occurred_at)], occurred_at)


def allergy_intolerance(r: Any, ctx: Context) -> SubjectRecord:
    allergen = coding(r.code)
    if allergen is None:
        raise MappingError(Problem("code-missing", "an AllergyIntolerance needs a code",
                                   f"{ctx.base or 'AllergyIntolerance'}.code"))
    severity = r.criticality or next((x.severity for x in r.reaction or () if x.severity), "")
    fact = Allergy(
        allergen=allergen, category=" ".join(r.category or ()), severity=severity or "",
        reactions=tuple(text_of(m) for x in r.reaction or () for m in x.manifestation or ()),
        identified_on=day(first(r.onsetDateTime, r.recordedDate)))
    occurred_at = when(r, ctx, r.onsetDateTime, r.recordedDate)
    return subject_record(r.patient, "AllergyIntolerance.patient", ctx,
                          [DatedFact(fact, occurred_at)], occurred_at)


def _medication_coding(r: Any) -> Coding:
    """R4's `medicationCodeableConcept`, else the contained or referenced Medication's code."""
    found = coding(r.medicationCodeableConcept)
    if found is not None:
        return found
    ref = r.medicationReference
    target = (ref.reference or "") if ref else ""
    for contained in r.contained or ():
        if target == f"#{contained.id}" and contained.get_resource_type() == "Medication":
            found = coding(contained.code)
            if found is not None:
                return found
    return Coding("", "", ref_display(ref))


def _dosage(dosages: Any) -> tuple[str, str]:
    for d in dosages or ():
        return d.text or "", text_of(d.route)
    return "", ""


def medication_request(r: Any, ctx: Context) -> SubjectRecord:
    dosage, route = _dosage(r.dosageInstruction)
    fact = Medication(medication=_medication_coding(r), record_id=record_id(r),
                      status=r.status, dosage=dosage, route=route,
                      reason=" ".join(text_of(c) for c in r.reasonCode or ()))
    occurred_at = when(r, ctx, r.authoredOn)
    return subject_record(r.subject, "MedicationRequest.subject", ctx,
                          [DatedFact(fact, occurred_at)], occurred_at)


def medication_statement(r: Any, ctx: Context) -> SubjectRecord:
    dosage, route = _dosage(r.dosage)
    fact = Medication(medication=_medication_coding(r), record_id=record_id(r),
                      status=r.status, dosage=dosage, route=route,
                      reason=" ".join(text_of(c) for c in r.reasonCode or ()))
    occurred_at = when(r, ctx, r.effectiveDateTime, period_start(r.effectivePeriod),
                       r.dateAsserted)
    return subject_record(r.subject, "MedicationStatement.subject", ctx,
                          [DatedFact(fact, occurred_at)], occurred_at)


def procedure(r: Any, ctx: Context) -> SubjectRecord:
    fact = Procedure(procedure=coding(r.code) or Coding("", "", ""), record_id=record_id(r),
                     status=r.status,
                     performer=" ".join(ref_display(p.actor) for p in r.performer or ()))
    occurred_at = when(r, ctx, r.performedDateTime, period_start(r.performedPeriod))
    return subject_record(r.subject, "Procedure.subject", ctx,
                          [DatedFact(fact, occurred_at)], occurred_at)


def diagnostic_report(r: Any, ctx: Context) -> SubjectRecord:
    code = coding(r.code)
    fact = ClinicalDocument(
        document_id=record_id(r), document_type=code,
        title=(code.display or code.code) if code else "", text=r.conclusion or "",
        status=r.status, author=" ".join(ref_display(p) for p in r.performer or ()))
    occurred_at = when(r, ctx, r.effectiveDateTime, period_start(r.effectivePeriod), r.issued)
    return subject_record(r.subject, "DiagnosticReport.subject", ctx,
                          [DatedFact(fact, occurred_at)], occurred_at)


def immunization(r: Any, ctx: Context) -> SubjectRecord:
    fact = Immunization(
        vaccine=coding(r.vaccineCode) or Coding("", "", ""), record_id=record_id(r),
        status=r.status, lot_number=r.lotNumber or "", site=text_of(r.site),
        route=text_of(r.route),
        performer=" ".join(ref_display(p.actor) for p in r.performer or ()))
    occurred_at = when(r, ctx, r.occurrenceDateTime, r.recorded)
    return subject_record(r.patient, "Immunization.patient", ctx,
                          [DatedFact(fact, occurred_at)], occurred_at)


def _attachment_text(attachment: Any) -> str:
    if attachment.data and (attachment.contentType or "").startswith("text/"):
        try:
            return base64.b64decode(attachment.data).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return ""
    return attachment.url or ""


def document_reference(r: Any, ctx: Context) -> SubjectRecord:
    attachment = r.content[0].attachment
    fact = ClinicalDocument(
        document_id=record_id(r), document_type=coding(r.type),
        title=r.description or attachment.title or text_of(r.type),
        text=_attachment_text(attachment), content_type=attachment.contentType or "",
        status=r.status, author=" ".join(ref_display(a) for a in r.author or ()))
    occurred_at = when(r, ctx, r.date, attachment.creation)
    return subject_record(r.subject, "DocumentReference.subject", ctx,
                          [DatedFact(fact, occurred_at)], occurred_at)


def service_request(r: Any, ctx: Context) -> SubjectRecord:
    fact = ReferralRequested(
        referral_id=record_id(r),
        reason=" ".join(text_of(c) for c in r.reasonCode or ()),
        urgency=r.priority or "", from_organisation=ref_display(r.requester),
        to_organisation=" ".join(ref_display(p) for p in r.performer or ()),
        specialty=text_of(r.code), status=r.status)
    occurred_at = when(r, ctx, r.authoredOn, r.occurrenceDateTime,
                       period_start(r.occurrencePeriod))
    return subject_record(r.subject, "ServiceRequest.subject", ctx,
                          [DatedFact(fact, occurred_at)], occurred_at)


def task(r: Any, ctx: Context) -> SubjectRecord:
    fact = ReferralRequested(
        referral_id=record_id(r),
        reason=r.description or text_of(r.reasonCode),
        urgency=r.priority or "", from_organisation=ref_display(r.requester),
        to_organisation=ref_display(r.owner), specialty=text_of(r.code), status=r.status)
    occurred_at = when(r, ctx, r.authoredOn, r.lastModified)
    return subject_record(r.for_fhir, "Task.for", ctx, [DatedFact(fact, occurred_at)],
                          occurred_at)


def care_plan(r: Any, ctx: Context) -> SubjectRecord:
    period = r.period
    fact = CarePlan(
        record_id=record_id(r), title=r.title or "", status=r.status, intent=r.intent,
        categories=codings(r.category), description=r.description or "",
        period_start=instant(period_start(period), ctx.zone),
        period_end=instant(period.end if period else None, ctx.zone),
        activities=tuple(a.detail.description or text_of(a.detail.code)
                         for a in r.activity or () if a.detail))
    occurred_at = when(r, ctx, r.created, period_start(period))
    return subject_record(r.subject, "CarePlan.subject", ctx, [DatedFact(fact, occurred_at)],
                          occurred_at)


def consent(r: Any, ctx: Context) -> SubjectRecord:
    policy = r.policyRule.text or text_of(r.policyRule) if r.policyRule else \
        " ".join(p.uri or p.authority or "" for p in r.policy or ())
    fact = Consent(
        scope=coding(r.scope) or Coding("", "", ""), record_id=record_id(r), status=r.status,
        categories=codings(r.category), policy=policy or "",
        provision=(r.provision.type or "") if r.provision else "")
    occurred_at = when(r, ctx, r.dateTime)
    return subject_record(r.patient, "Consent.patient", ctx, [DatedFact(fact, occurred_at)],
                          occurred_at)


MAPPINGS: dict[str, Callable[[Any, Context], SubjectRecord]] = {
    "Patient": patient, "Encounter": encounter, "Observation": observation,
    "Condition": condition, "AllergyIntolerance": allergy_intolerance,
    "MedicationRequest": medication_request, "MedicationStatement": medication_statement,
    "Procedure": procedure, "DiagnosticReport": diagnostic_report,
    "Immunization": immunization, "DocumentReference": document_reference,
    "ServiceRequest": service_request, "Task": task, "CarePlan": care_plan, "Consent": consent,
}


def subject_record_from(resource: Any, ctx: Context) -> SubjectRecord:
    """The facts of one validated R4 resource; MappingError when it cannot be placed."""
    return MAPPINGS[resource.get_resource_type()](resource, ctx)
