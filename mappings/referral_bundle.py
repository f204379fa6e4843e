"""A referral and its handover packet as a FHIR R4 Bundle (collection), checked by fhir.resources.

Patient, Condition (problems), MedicationStatement, AllergyIntolerance, Observation (latest vital
signs), RelatedPerson (contacts), the ServiceRequest for the referral and the Task whose status
follows the referral's state machine (DOMAIN.md §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError

from hub.referrals import ROUTINE, URGENT, ReferralForm
from hub.values import Problem
from mappings.errors import MappingError

TASK_STATUS = {"requested": "requested", "sent": "requested", "accepted": "accepted",
               "refused": "rejected", "cancelled": "cancelled", "expired": "failed",
               "arrived": "in-progress", "completed": "completed", "received": "completed"}
SERVICE_REQUEST_STATUS = {"requested": "active", "sent": "active", "accepted": "active",
                          "arrived": "active", "completed": "completed", "received": "completed",
                          "refused": "revoked", "cancelled": "revoked", "expired": "revoked"}
GENDER = {"1": "male", "2": "female", "0": "unknown", "9": "other"}  # GB/T 2261.1
ALLERGY_CATEGORY = {"drug": "medication", "medication": "medication", "food": "food",
                    "environment": "environment", "biologic": "biologic"}
OBSERVATION_STATUS = {"preliminary", "final", "amended", "corrected", "cancelled",
                      "entered-in-error", "registered", "unknown"}


def _id(*parts: str) -> str:
    return str(uuid5(NAMESPACE_URL, "urn:yyhub:fhir:" + "|".join(parts)))


def _concept(coding: dict[str, Any] | None, text: str = "") -> dict[str, Any]:
    if not coding:
        return {"text": text or "unknown"}
    item = {k: v for k, v in (("system", coding.get("system")), ("code", coding.get("code")),
                              ("display", coding.get("display"))) if v}
    return {"coding": [item], "text": coding.get("display") or coding.get("code") or text}


def bundle_from_referral(referral: dict[str, Any], packet: dict[str, Any]) -> dict[str, Any]:
    """The referral and its packet as a validated FHIR R4B Bundle, as JSON-ready data."""
    elder_id = str(referral["elder_id"])
    patient_ref = {"reference": f"urn:uuid:{elder_id}"}
    entries: list[dict[str, Any]] = [_patient(elder_id, packet)]
    for problem in packet.get("problems", []):
        entries.append({"resourceType": "Condition", "id": _id(elder_id, problem["key"]),
                        "subject": patient_ref, "code": _concept(problem.get("condition"))})
    for medication in packet.get("medications", []):
        statement = {"resourceType": "MedicationStatement", "id": _id(elder_id, medication["key"]),
                     "status": "active", "subject": patient_ref,
                     "medicationCodeableConcept": _concept(medication.get("medication"))}
        if medication.get("dosage"):
            statement["dosage"] = [{"text": medication["dosage"]}]
        entries.append(statement)
    for allergy in packet.get("allergies", []):
        resource = {"resourceType": "AllergyIntolerance", "id": _id(elder_id, allergy["key"]),
                    "patient": patient_ref, "code": _concept(allergy.get("allergen"))}
        category = ALLERGY_CATEGORY.get(str(allergy.get("category", "")).lower())
        if category:
            resource["category"] = [category]
        entries.append(resource)
    for observation in packet.get("vital_signs", []):
        entries.append(_observation(elder_id, patient_ref, observation))
    for contact in packet.get("contacts", []):
        person: dict[str, Any] = {"resourceType": "RelatedPerson",
                                  "id": _id(elder_id, contact["key"]), "patient": patient_ref,
                                  "name": [{"text": contact.get("name") or "unknown"}]}
        if contact.get("phone"):
            person["telecom"] = [{"system": "phone", "value": contact["phone"]}]
        if contact.get("relationship"):
            person["relationship"] = [_concept(contact["relationship"])]
        entries.append(person)
    entries.extend(_request_and_task(referral, patient_ref))
    bundle = {"resourceType": "Bundle", "type": "collection",
              "timestamp": packet.get("taken_at") or referral["requested_at"],
              "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in entries]}
    Bundle.model_validate(bundle)
    return bundle


def _patient(elder_id: str, packet: dict[str, Any]) -> dict[str, Any]:
    demographics = packet.get("demographics", {})
    patient: dict[str, Any] = {
        "resourceType": "Patient", "id": elder_id,
        "identifier": [{"system": i["system"], "value": i["value"]}
                       for i in packet.get("identifiers", []) if i.get("linkable", True)],
    }
    if demographics.get("name"):
        patient["name"] = [{"text": demographics["name"],
                            **({"family": demographics["family"]}
                               if demographics.get("family") else {})}]
    sex = (demographics.get("sex") or {}).get("code", "")
    if sex in GENDER:
        patient["gender"] = GENDER[sex]
    if demographics.get("birth_date"):
        patient["birthDate"] = demographics["birth_date"]
    if demographics.get("phone"):
        patient["telecom"] = [{"system": "phone", "value": demographics["phone"]}]
    return patient


def _observation(elder_id: str, patient_ref: dict[str, str],
                 item: dict[str, Any]) -> dict[str, Any]:
    status = item.get("status") if item.get("status") in OBSERVATION_STATUS else "final"
    resource: dict[str, Any] = {"resourceType": "Observation", "id": _id(elder_id, item["key"]),
                                "status": status, "code": _concept(item.get("code")),
                                "subject": patient_ref,
                                "effectiveDateTime": item["occurred_at"]}
    if item.get("category"):
        resource["category"] = [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": item["category"]}]}]
    if item.get("value_quantity") is not None:
        resource["valueQuantity"] = {"value": float(item["value_quantity"]),
                                     **({"unit": item["unit"]} if item.get("unit") else {})}
    elif item.get("value_text"):
        resource["valueString"] = item["value_text"]
    components = [{"code": _concept(c.get("code")),
                   "valueQuantity": {"value": float(c["value_quantity"]),
                                     **({"unit": c["unit"]} if c.get("unit") else {})}}
                  for c in item.get("components") or [] if c.get("value_quantity") is not None]
    if components:
        resource["component"] = components
    return resource


def _request_and_task(referral: dict[str, Any],
                      patient_ref: dict[str, str]) -> list[dict[str, Any]]:
    referral_id = referral["referral_id"]
    request_id = _id("service-request", referral_id)
    identifier = {"system": f"urn:yyhub:referral-number:{referral['from_organisation']}",
                  "value": referral["number"]}
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest", "id": request_id, "identifier": [identifier],
        "status": SERVICE_REQUEST_STATUS.get(referral["status"], "unknown"), "intent": "order",
        "category": [{"text": "转诊" if referral["direction"] == "up" else "下转/回转"}],
        "priority": "urgent" if referral["urgency"] == "urgent" else "routine",
        "code": {"text": referral.get("department") or "referral"},
        "subject": patient_ref, "authoredOn": referral["requested_at"],
        "requester": {"display": referral["from_organisation"]},
        "reasonCode": [{"text": referral["reason"]}],
    }
    if referral.get("to_organisation"):
        request["performer"] = [{"display": referral["to_organisation"]}]
    notes = [n for n in (referral.get("diagnosis"), referral.get("discharge_summary")) if n]
    if notes:
        request["note"] = [{"text": n} for n in notes]
    task = {"resourceType": "Task", "id": _id("task", referral_id), "identifier": [identifier],
            "status": TASK_STATUS.get(referral["status"], "requested"),
            "businessStatus": {"text": referral["status"]}, "intent": "order",
            "focus": {"reference": f"urn:uuid:{request_id}"}, "for": patient_ref,
            "authoredOn": referral["requested_at"], "lastModified": referral["updated_at"],
            "requester": {"display": referral["from_organisation"]}}
    if referral.get("to_organisation"):
        task["owner"] = {"display": referral["to_organisation"]}
    if referral.get("refuse_reason"):
        task["statusReason"] = {"text": referral["refuse_reason"]}
    return [request, task]


@dataclass(frozen=True)
class FhirReferral:
    """What a FHIR ServiceRequest asks for: the patient's identifiers and the referral form."""

    identifiers: tuple[tuple[str, str], ...]
    form: ReferralForm


def referral_from_service_request(data: dict[str, Any]) -> FhirReferral:
    """A ServiceRequest, alone or in a Bundle with its Patient, as a referral form.

    The first identifier is the 转诊单号; `priority` urgent/asap/stat is urgent; the performer is
    the destination. Raises `MappingError` naming the FHIRPath at fault.
    """
    resources = ([e.get("resource") or {} for e in data.get("entry", [])]
                 if data.get("resourceType") == "Bundle" else [data])
    requests = [r for r in resources if r.get("resourceType") == "ServiceRequest"]
    if len(requests) != 1:
        raise MappingError(Problem("required-field-missing",
                                   "send one ServiceRequest, alone or in a Bundle",
                                   "ServiceRequest"))
    request = requests[0]
    try:
        ServiceRequest.model_validate(request)
    except ValidationError as error:
        raise MappingError(tuple(
            Problem("bad-data-type", e["msg"],
                    "ServiceRequest." + ".".join(str(p) for p in e["loc"] if p != "__root__"))
            for e in error.errors())) from error
    if request.get("priority", "routine") not in ("routine", "urgent", "asap", "stat"):
        raise MappingError(Problem("table-value-not-found",
                                   "priority is one of routine, urgent, asap, stat",
                                   "ServiceRequest.priority"))
    number = next((i.get("value", "") for i in request.get("identifier", []) if i.get("value")), "")
    if not number:
        raise MappingError(Problem("required-field-missing",
                                   "the referral number (转诊单号) goes in identifier[0].value",
                                   "ServiceRequest.identifier"))
    reason = next((c.get("text") or next((x.get("display") or x.get("code") for x in
                                          c.get("coding", [])), "")
                   for c in request.get("reasonCode", [])), "")
    if not reason:
        raise MappingError(Problem("required-field-missing", "a referral needs a reason",
                                   "ServiceRequest.reasonCode"))
    performer = next(iter(request.get("performer", [])), {})
    form = ReferralForm(
        number=number, reason=reason,
        urgency=URGENT if request.get("priority") in ("urgent", "asap", "stat") else ROUTINE,
        to_organisation=(performer.get("identifier") or {}).get("value")
        or performer.get("display", ""),
        department=(request.get("code") or {}).get("text", ""),
        diagnosis="; ".join(n.get("text", "") for n in request.get("note", [])),
        requesting_doctor=(request.get("requester") or {}).get("display", ""))
    return FhirReferral(_patient_identifiers(request, resources, data), form)


def _patient_identifiers(request: dict[str, Any], resources: list[dict[str, Any]],
                         data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    subject = request.get("subject") or {}
    if (subject.get("identifier") or {}).get("value"):
        return ((subject["identifier"].get("system", ""), subject["identifier"]["value"]),)
    reference = subject.get("reference", "")
    urls = {e.get("fullUrl"): e.get("resource") or {} for e in data.get("entry", [])}
    patients = [urls.get(reference)] if reference in urls else [
        r for r in resources if r.get("resourceType") == "Patient"
        and reference in (f"Patient/{r.get('id')}", "")]
    found = tuple((i.get("system", ""), i["value"]) for p in patients if p
                  for i in p.get("identifier", []) if i.get("value"))
    if not found:
        raise MappingError(Problem("required-field-missing",
                                   "name the patient by subject.identifier or a Patient in the "
                                   "Bundle with identifiers", "ServiceRequest.subject"))
    return found
