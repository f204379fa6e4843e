"""The FHIR R4 read facade: an elder's record from the read model as R4 resources.

Built from the profile and timeline tables only (never by replaying aggregates), so facts from
every source (HL7 v2, FHIR, files) come back the same way. Every resource is validated with
`fhir.resources.R4B` before it leaves, and carries `meta.source` naming where its fact came from.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fhir.resources.R4B import get_fhir_model_class

from mappings import codes

Json = dict[str, Any]

OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
UCUM = "http://unitsofmeasure.org"
GENDER = {"1": "male", "2": "female", "0": "unknown", "9": "other"}
# HL7 v2 OBX-11 result status (table 0085) → Observation.status, for facts that came as HL7.
HL7_RESULT_STATUS = {"F": "final", "P": "preliminary", "C": "corrected", "X": "cancelled",
                     "D": "entered-in-error", "W": "entered-in-error", "R": "registered",
                     "I": "registered", "S": "preliminary", "A": "amended"}
# HL7 v2 allergen types and severities (as the ADT mapping words them) → FHIR.
ALLERGY_CATEGORY = {"drug": "medication", "medication": "medication", "food": "food",
                    "environment": "environment", "biologic": "biologic"}


def source_uri(source: Json) -> str:
    """`meta.source`: organisation, channel and inbound message, as one URI."""
    return (f"urn:yyhub:source:{quote(source.get('organisation', ''), safe='')}:"
            f"{source.get('channel', '')}:{source.get('message_id', '')}")


def validated(resource: Json) -> Json:
    """The resource as R4 JSON after `fhir.resources.R4B` accepted it (raises if it does not)."""
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return model.model_dump(mode="json", exclude_none=True)


def _clean(value: Any) -> Any:
    """Drop empty strings, lists and dicts, so no element is present without a value."""
    if isinstance(value, dict):
        cleaned = {k: _clean(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in ("", None, [], {})}
    if isinstance(value, list):
        return [c for c in (_clean(v) for v in value) if c not in ("", None, [], {})]
    return value


def concept(coding: Json | None) -> Json | None:
    if not coding:
        return None
    display = coding.get("display", "")
    if coding.get("code"):
        return {"coding": [{"system": coding.get("system"), "code": coding["code"],
                            "display": display}], "text": display}
    return {"text": display} if display else None


def _text(value: str) -> Json | None:
    return {"text": value} if value else None


def _identifier(record_id: str) -> list[Json]:
    if "|" not in record_id:  # `Type/id` or a bare number: not a business identifier
        return []
    system, _, value = record_id.rpartition("|")
    return [{"system": system or None, "value": value}]


def _allowed(value: str, allowed: tuple[str, ...], default: str) -> str:
    return value if value in allowed else default


def patient(profile: Json) -> Json:
    """The Patient: identifiers and current demographics, each as the latest source said, and
    a link to every record merged into this person."""
    d = profile["demographics"]
    provenance = profile.get("demographics_provenance", {})
    held = provenance.get("name") or next(iter(provenance.values()), None)
    sex = (d.get("sex") or {}).get("code", "")
    resource = {
        "resourceType": "Patient", "id": profile["elder_id"],
        "meta": {"source": source_uri(held["source"])} if held else None,
        "identifier": [{"system": i["system"], "value": i["value"]}
                       for i in profile["identifiers"]],
        "name": [{"text": d.get("name"), "family": d.get("family"),
                  "given": (d.get("given") or "").split() or None}] if d.get("name") else None,
        "gender": GENDER.get(sex),
        "birthDate": d.get("birth_date"),
        "deceasedDateTime": d.get("deceased_at"),
        "address": [{"text": d["address"]}] if d.get("address") else None,
        "telecom": [{"system": "phone", "value": d["phone"]}] if d.get("phone") else None,
        "maritalStatus": concept(d.get("marital_status")),
        "contact": [{"name": {"text": c["name"]},
                     "relationship": [concept(c.get("relationship"))]
                     if c.get("relationship") else None,
                     "telecom": [{"system": "phone", "value": c["phone"]}]
                     if c.get("phone") else None}
                    for c in profile.get("contacts", [])],
        # A person merged from several records: this one (the survivor) replaces the others.
        "link": [{"other": {"reference": f"Patient/{member}"}, "type": "replaces"}
                 for member in profile.get("members", [])[1:]],
    }
    if sex and sex in codes.SEX_NAMES:
        resource["extension"] = [{
            "url": "urn:yyhub:extension:gb-t-2261.1-sex",
            "valueCoding": {"system": codes.SEX_SYSTEM, "code": sex,
                            "display": codes.SEX_NAMES[sex]}}]
    return validated(_clean(resource))


def _observation_body(data: Json) -> Json:
    body: Json = {"code": concept(data.get("code")) or {"text": "unknown"}}
    if data.get("value_quantity") is not None:
        body["valueQuantity"] = {"value": data["value_quantity"], "unit": data.get("unit"),
                                 "system": UCUM if data.get("unit_code") else None,
                                 "code": data.get("unit_code")}
    elif data.get("value_coding"):
        body["valueCodeableConcept"] = concept(data["value_coding"])
    elif data.get("value_text"):
        body["valueString"] = data["value_text"]
    return body


def observation(entry: Json, subject: Json) -> Json:
    data = entry["data"]
    return {
        "resourceType": "Observation", **_observation_body(data),
        "identifier": _identifier(data.get("observation_id", "")),
        "status": _allowed(HL7_RESULT_STATUS.get(data.get("status", ""),
                                                 data.get("status", "")), (
            "registered", "preliminary", "final", "amended", "corrected", "cancelled",
            "entered-in-error", "unknown"), "unknown"),
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": c}]}
                     for c in data.get("category", "").split()],
        "subject": subject, "effectiveDateTime": entry["occurred_at"],
        "interpretation": [{"coding": [{"code": c}]} for c in
                           data.get("interpretation", "").split()],
        "referenceRange": [{"text": data["reference_range"]}]
        if data.get("reference_range") else None,
        "note": [{"text": data["note"]}] if data.get("note") else None,
        "component": [_observation_body(c) for c in data.get("components", [])],
    }


def condition(entry: Json, subject: Json) -> Json:
    data = entry["data"]
    return {"resourceType": "Condition", "code": concept(data["condition"]), "subject": subject,
            "category": [{"text": data["diagnosis_type"]}] if data.get("diagnosis_type")
            else None,
            "onsetDateTime": data.get("diagnosed_at") or entry["occurred_at"],
            "recordedDate": entry["occurred_at"]}


def allergy(entry: Json, subject: Json) -> Json:
    data = entry["data"]
    categories = sorted({ALLERGY_CATEGORY[c] for c in data.get("category", "").split()
                         if c in ALLERGY_CATEGORY})
    severity = data.get("severity", "")
    return {"resourceType": "AllergyIntolerance", "patient": subject,
            "code": concept(data["allergen"]), "category": categories,
            "criticality": _allowed(data.get("severity", ""),
                                    ("low", "high", "unable-to-assess"), "") or None,
            "onsetDateTime": data.get("identified_on"),
            "recordedDate": entry["occurred_at"],
            "reaction": [{"manifestation": [{"text": r} for r in data.get("reactions", [])
                                            if r],
                          "severity": severity if severity in ("mild", "moderate", "severe")
                          else None}] if any(data.get("reactions", [])) else None}


def encounter(entry: Json, subject: Json) -> Json:
    data = entry["data"]
    cls = data.get("patient_class") or {}
    return {"resourceType": "Encounter", "subject": subject,
            "identifier": _identifier(data.get("visit_number", "")),
            "status": _allowed(data.get("status", ""), (
                "planned", "arrived", "triaged", "in-progress", "onleave", "finished",
                "cancelled", "entered-in-error", "unknown"), "unknown"),
            "class": {"system": cls.get("system"), "code": cls.get("code"),
                      "display": cls.get("display")} if cls.get("code") else {
                "system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "code": "UNK"},
            "period": {"start": data.get("admitted_at"), "end": data.get("discharged_at")},
            "serviceType": _text(data.get("hospital_service", "")),
            "location": [{"location": {"display": data["location"]}}]
            if data.get("location") else None,
            "participant": [{"individual": {"display": data["attending_doctor"]}}]
            if data.get("attending_doctor") else None}


def medication(entry: Json, subject: Json) -> Json:
    data = entry["data"]
    return {"resourceType": "MedicationStatement", "subject": subject,
            "identifier": _identifier(data.get("record_id", "")),
            "status": _allowed(data.get("status", ""), (
                "active", "completed", "entered-in-error", "intended", "stopped", "on-hold",
                "unknown", "not-taken"), "unknown"),
            "medicationCodeableConcept": concept(data["medication"]) or {"text": "unknown"},
            "effectiveDateTime": entry["occurred_at"],
            "dosage": [{"text": data.get("dosage"), "route": _text(data.get("route", ""))}],
            "reasonCode": [_text(data.get("reason", ""))]}


def procedure(entry: Json, subject: Json) -> Json:
    data = entry["data"]
    return {"resourceType": "Procedure", "subject": subject,
            "identifier": _identifier(data.get("record_id", "")),
            "status": _allowed(data.get("status", ""), (
                "preparation", "in-progress", "not-done", "on-hold", "stopped", "completed",
                "entered-in-error", "unknown"), "unknown"),
            "code": concept(data["procedure"]), "performedDateTime": entry["occurred_at"],
            "performer": [{"actor": {"display": data["performer"]}}]
            if data.get("performer") else None}


def document(entry: Json, subject: Json) -> Json:
    data = entry["data"]
    text = data.get("text", "")
    return {"resourceType": "DocumentReference", "subject": subject,
            "identifier": _identifier(data.get("document_id", "")),
            "status": "entered-in-error" if data.get("status") == "entered-in-error"
            else "current",
            "docStatus": _allowed(data.get("status", ""), (
                "preliminary", "final", "amended", "entered-in-error"), "") or None,
            "type": concept(data.get("document_type")), "date": entry["occurred_at"],
            "description": data.get("title"),
            "author": [{"display": data["author"]}] if data.get("author") else None,
            "content": [{"attachment": {
                "contentType": (data.get("content_type") or "text/plain")
                if text else None,
                "data": base64.b64encode(text.encode()).decode() if text else None,
                "title": data.get("title") or None}}]}


REFERRAL_STATUS = {"requested": "active", "received": "active", "accepted": "active",
                   "in-progress": "active", "ready": "active", "rejected": "revoked",
                   "cancelled": "revoked", "failed": "revoked", "draft": "draft",
                   "active": "active", "on-hold": "on-hold", "revoked": "revoked",
                   "completed": "completed", "entered-in-error": "entered-in-error"}


def referral(entry: Json, subject: Json) -> Json:
    data = entry["data"]
    return {"resourceType": "ServiceRequest", "subject": subject,
            "identifier": _identifier(data.get("referral_id", "")),
            "status": REFERRAL_STATUS.get(data.get("status", ""), "unknown"),
            "intent": "order", "code": _text(data.get("specialty", "")),
            "priority": _allowed(data.get("urgency", ""), ("routine", "urgent", "asap", "stat"),
                                 "") or None,
            "reasonCode": [_text(data.get("reason", ""))],
            "requester": {"display": data["from_organisation"]}
            if data.get("from_organisation") else None,
            "performer": [{"display": data["to_organisation"]}]
            if data.get("to_organisation") else None,
            "authoredOn": entry["occurred_at"],
            "note": [{"text": f"status: {data['status']}"}] if data.get("status") else None}


def immunization(entry: Json, subject: Json) -> Json:
    data = entry["data"]
    return {"resourceType": "Immunization", "patient": subject,
            "identifier": _identifier(data.get("record_id", "")),
            "status": _allowed(data.get("status", ""),
                               ("completed", "entered-in-error", "not-done"), "completed"),
            "vaccineCode": concept(data["vaccine"]) or {"text": "unknown"},
            "occurrenceDateTime": entry["occurred_at"], "lotNumber": data.get("lot_number"),
            "site": _text(data.get("site", "")), "route": _text(data.get("route", "")),
            "performer": [{"actor": {"display": data["performer"]}}]
            if data.get("performer") else None}


def care_plan(entry: Json, subject: Json) -> Json:
    data = entry["data"]
    return {"resourceType": "CarePlan", "subject": subject,
            "identifier": _identifier(data.get("record_id", "")),
            "status": _allowed(data.get("status", ""), (
                "draft", "active", "on-hold", "revoked", "completed", "entered-in-error",
                "unknown"), "unknown"),
            "intent": _allowed(data.get("intent", ""), ("proposal", "plan", "order", "option"),
                               "plan"),
            "title": data.get("title"), "description": data.get("description"),
            "category": [concept(c) for c in data.get("categories", [])],
            "period": {"start": data.get("period_start"), "end": data.get("period_end")},
            "created": entry["occurred_at"],
            "activity": [{"detail": {"status": "unknown", "description": a}}
                         for a in data.get("activities", []) if a]}


def consent(entry: Json, subject: Json) -> Json:
    data = entry["data"]
    categories = [concept(c) for c in data.get("categories", [])] or [{"text": "consent"}]
    return {"resourceType": "Consent", "patient": subject,
            "identifier": _identifier(data.get("record_id", "")),
            "status": _allowed(data.get("status", ""), (
                "draft", "proposed", "active", "rejected", "inactive", "entered-in-error"),
                "active"),
            "scope": concept(data["scope"]) or {"text": "unknown"}, "category": categories,
            "dateTime": entry["occurred_at"], "policyRule": _text(data.get("policy", "")),
            "provision": {"type": data["provision"]} if data.get("provision") in (
                "permit", "deny") else None}


BUILDERS: dict[str, tuple[str, Callable[[Json, Json], Json]]] = {
    "observation": ("Observation", observation), "diagnosis": ("Condition", condition),
    "allergy": ("AllergyIntolerance", allergy), "encounter": ("Encounter", encounter),
    "medication": ("MedicationStatement", medication), "procedure": ("Procedure", procedure),
    "document": ("DocumentReference", document), "referral": ("ServiceRequest", referral),
    "immunization": ("Immunization", immunization), "careplan": ("CarePlan", care_plan),
    "consent": ("Consent", consent),
}
# FHIR resource type → timeline kinds, for `_type`.
KINDS_BY_TYPE: dict[str, list[str]] = {}
for _kind, (_type, _) in BUILDERS.items():
    KINDS_BY_TYPE.setdefault(_type, []).append(_kind)


def resource_for(entry: Json) -> Json | None:
    """The R4 resource of one timeline entry, or None for kinds the Patient already shows."""
    built = BUILDERS.get(entry["kind"])
    if built is None:
        return None
    subject = {"reference": f"Patient/{entry['elder_id']}"}
    resource = built[1](entry, subject)
    resource["id"] = f"{entry['kind']}-{entry['position']}-{entry.get('seq', 0)}"
    resource["meta"] = {"source": source_uri(entry["source"]),
                        "lastUpdated": entry["recorded_at"]}
    return validated(_clean(resource))
