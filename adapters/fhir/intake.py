"""FHIR ingest: resources and Bundles in, each kept as an InboundMessage with the facts it carried.

A transaction Bundle is one message and one atomic save: if any entry is bad, nothing is saved
but the rejected message itself (kept raw with its reasons). A batch is one message per entry.
Answers are built only after the commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from typing import Any
from uuid import UUID

from adapters.fhir.outcome import operation_outcome
from hub.application import HubApplication, MappedMessage, Receipt, SubjectRecord
from hub.inbound import ACCEPTED, DUPLICATE, REJECTED, Envelope
from hub.values import Problem
from mappings.errors import MappingError
from mappings.fhir import reading, resources

CHANNEL = "fhir"
BUNDLE_TYPES = ("transaction", "batch", "collection")


@dataclass
class FhirAnswer:
    """An HTTP answer: status, FHIR JSON body, and headers (Location, X-Hub-Position)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    receipt: Receipt | None = None


class FhirIntake:
    """Validates, maps and records FHIR resources and Bundles through the application service."""

    def __init__(self, app: HubApplication, local_zone: tzinfo,
                 record: Callable[..., Receipt] | None = None):
        self.app = app
        self.zone = local_zone
        self._record = record or app.receive

    # ------------------------------------------------------------------ one resource

    def receive_resource(self, raw: bytes, sender: str, resource_type: str,
                         logical_id: str | None = None,
                         if_none_exist: str | None = None) -> FhirAnswer:
        """`POST /fhir/{type}` (logical_id None) or `PUT /fhir/{type}/{id}`."""
        received_at = datetime.now(UTC)
        try:
            data = reading.parse_json(raw)
        except MappingError as error:
            return self._refuse(raw, sender, received_at, error.problems, 400, resource_type)
        if data["resourceType"] != resource_type:
            problem = Problem("wrong-type", f"the URL names {resource_type} but the body is a "
                              f"{data['resourceType']}", "resourceType")
            return self._refuse(raw, sender, received_at, (problem,), 400, resource_type)
        if logical_id is not None:
            if data.get("id") not in (None, logical_id):
                problem = Problem("invalid-resource", f"the body's id {data.get('id')!r} is not "
                                  f"the id in the URL ({logical_id})", f"{resource_type}.id")
                return self._refuse(raw, sender, received_at, (problem,), 400, resource_type)
            data = {**data, "id": logical_id}
        return self.receive_data(data, raw, sender, received_at, if_none_exist=if_none_exist)

    def receive_data(self, data: dict[str, Any], raw: bytes, sender: str,
                     received_at: datetime, base: str = "",
                     if_none_exist: str | None = None) -> FhirAnswer:
        """A parsed resource: kept once, mapped, recorded; the answer carries its Location."""
        resource_type = str(data["resourceType"])
        envelope = self._envelope(raw, sender, received_at, resource_type, data)
        if resource_type == "Bundle":
            return self._refuse_envelope(envelope, (Problem(
                "not-supported", "post Bundles to the base URL (/fhir)", "Bundle"),), 400)
        if resource_type not in reading.SUPPORTED_TYPES:
            return self._refuse_envelope(envelope, (_unsupported(resource_type, base),), 404)
        try:
            resource = reading.validate(data, base)
        except MappingError as error:
            return self._refuse_envelope(envelope, error.problems, 422)
        if if_none_exist:
            matched = self._match(resource_type, if_none_exist, sender)
            if isinstance(matched, FhirAnswer):
                return matched
            if matched is not None:
                receipt = self._record(envelope, MappedMessage(sender, ()))
                return self._created(receipt, 200, f"Patient/{matched}")
        ctx = resources.Context(sender, received_at, self.zone, base=base)
        try:
            subject = resources.subject_record_from(resource, ctx)
        except MappingError as error:
            return self._refuse_envelope(envelope, error.problems, 422)
        if if_none_exist:
            subject = replace(subject, only_if_new=True)
        receipt = self._record(envelope, MappedMessage(sender, (subject,)))
        if receipt.first_outcome != ACCEPTED:
            return self._answer_refusal(receipt, 422)
        matched_existing = bool(if_none_exist) and receipt.fact_count == 0
        status = 200 if receipt.outcome == DUPLICATE or matched_existing else 201
        return self._created(receipt, status,
                             self._location(resource_type, data, receipt, subject,
                                            f"{receipt.message_id}-0"))

    def _match(self, resource_type: str, criteria: str, sender: str) -> UUID | FhirAnswer | None:
        """`If-None-Exist: identifier=system|value`: the elder already holding it, if any."""
        name, _, value = criteria.partition("=")
        if resource_type != "Patient" or name.strip() != "identifier" or not value:
            return FhirAnswer(400, operation_outcome((Problem(
                "not-supported", "conditional create is supported for Patient by identifier "
                "(If-None-Exist: identifier=system|value)", "If-None-Exist"),)))
        system, _, ident_value = value.rpartition("|")
        return self.app.elder_for(resources.identifier_from(system, ident_value, sender))

    # ------------------------------------------------------------------ bundles

    def receive_bundle(self, raw: bytes, sender: str) -> FhirAnswer:
        """`POST /fhir`: a transaction, batch or collection Bundle."""
        received_at = datetime.now(UTC)
        try:
            data = reading.parse_json(raw)
        except MappingError as error:
            return self._refuse(raw, sender, received_at, error.problems, 400, "Bundle")
        if data["resourceType"] != "Bundle":
            return self._refuse(raw, sender, received_at, (Problem(
                "wrong-type", f"the base URL takes a Bundle, not a {data['resourceType']}",
                "resourceType"),), 400, "Bundle")
        kind = data.get("type")
        entries = data.get("entry") or []
        if kind not in BUNDLE_TYPES or not isinstance(entries, list):
            return self._refuse(raw, sender, received_at, (Problem(
                "not-supported", f"Bundle type {kind!r} is not accepted here (transaction, "
                "batch or collection)", "Bundle.type"),), 400, "Bundle")
        if kind == "batch":
            return self._batch(raw, data, entries, sender, received_at)
        return self._transaction(raw, data, entries, sender, received_at, kind)

    def _batch(self, raw: bytes, data: dict[str, Any], entries: list[Any], sender: str,
               received_at: datetime) -> FhirAnswer:
        """Each entry on its own: one InboundMessage and one save per entry."""
        answers = []
        for i, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            base = f"Bundle.entry[{i}].resource"
            if not isinstance(resource, dict) or "resourceType" not in resource:
                answers.append(FhirAnswer(400, operation_outcome((Problem(
                    "invalid-resource", "entry has no resource", f"Bundle.entry[{i}]"),))))
                continue
            entry_raw = json.dumps(resource, ensure_ascii=False, sort_keys=True).encode()
            request = entry.get("request") or {}
            answers.append(self.receive_data(resource, entry_raw, sender, received_at, base,
                                             if_none_exist=request.get("ifNoneExist")))
        response = {"resourceType": "Bundle", "type": "batch-response", "entry": [
            {"response": _entry_response(a)} for a in answers]}
        positions = [a.receipt.position for a in answers if a.receipt and a.receipt.position]
        headers = {"X-Hub-Position": str(max(positions))} if positions else {}
        return FhirAnswer(200, response, headers)

    def _transaction(self, raw: bytes, data: dict[str, Any], entries: list[Any], sender: str,
                     received_at: datetime, kind: str) -> FhirAnswer:
        """All or nothing: every entry valid and placed, then one atomic save.

        Patients are read first, since the other entries name them by fullUrl. Every other
        entry is validated and mapped in turn and its model dropped at once: holding hundreds of
        models until the end made each validation about a tenth slower."""
        envelope = self._envelope(raw, sender, received_at, f"Bundle/{kind}", data)
        problems: list[tuple[int, Problem]] = []
        warnings: list[Problem] = []
        patients: list[tuple[int, Any]] = []
        others: list[tuple[int, dict[str, Any]]] = []
        for i, entry in enumerate(entries):
            base = f"Bundle.entry[{i}].resource"
            resource = entry.get("resource") if isinstance(entry, dict) else None
            method = ((entry.get("request") or {}).get("method") or "POST") \
                if isinstance(entry, dict) else "POST"
            if not isinstance(resource, dict) or "resourceType" not in resource:
                problems.append((i, Problem("invalid-resource", "entry has no resource",
                                            f"Bundle.entry[{i}]")))
            elif kind == "transaction" and method not in ("POST", "PUT"):
                problems.append((i, Problem("not-supported", f"{method} entries are not "
                                            "supported", f"Bundle.entry[{i}].request.method")))
            elif resource["resourceType"] not in reading.SUPPORTED_TYPES:
                problem = _unsupported(str(resource["resourceType"]), base)
                if kind == "transaction":
                    problems.append((i, problem))
                else:
                    warnings.append(Problem(problem.code, problem.message + "; kept raw",
                                            problem.location, "warning"))
            elif resource["resourceType"] == "Patient":
                try:
                    patients.append((i, reading.validate(resource, base)))
                except MappingError as error:
                    problems.extend((i, p) for p in error.problems)
            else:
                others.append((i, resource))

        bundle_patients = _bundle_patients(entries, patients, sender)
        placed: list[tuple[int, SubjectRecord]] = []
        unplaced: list[tuple[int, Problem]] = []

        def place(i: int, resource: Any) -> None:
            ctx = resources.Context(sender, received_at, self.zone, bundle_patients,
                                    base=f"Bundle.entry[{i}].resource")
            try:
                placed.append((i, resources.subject_record_from(resource, ctx)))
            except MappingError as error:
                unplaced.extend((i, p) for p in error.problems)

        for i, resource in patients:
            place(i, resource)
        for i, resource in others:
            try:
                model = reading.validate(resource, f"Bundle.entry[{i}].resource")
            except MappingError as error:
                problems.extend((i, p) for p in error.problems)
                continue
            if not problems:  # once refused, only the other entries' validity is news
                place(i, model)
        if problems or unplaced:  # validity first; where entries cannot be placed after
            return self._refuse_envelope(envelope, _in_entry_order(problems or unplaced), 422)

        receipt = self._record(envelope, MappedMessage(sender, tuple(s for _, s in placed),
                                                      tuple(warnings)))
        if receipt.first_outcome != ACCEPTED:
            return self._answer_refusal(receipt, 422)
        subject_of = dict(placed)
        message = str(receipt.message_id)
        response_entries = []
        for i, entry in enumerate(entries):
            if i not in subject_of:
                response_entries.append({"response": {
                    "status": "200 OK", "outcome": operation_outcome(
                        [w for w in warnings if w.location.startswith(f"Bundle.entry[{i}]")])}})
                continue
            location = self._location(entry["resource"]["resourceType"], entry["resource"],
                                      receipt, subject_of[i], f"{message}-{i}")
            response_entries.append({"response": {
                "status": "200 OK" if receipt.outcome == DUPLICATE else "201 Created",
                "location": location}})
        body = {"resourceType": "Bundle", "type": f"{kind}-response" if kind == "transaction"
                else "batch-response", "entry": response_entries}
        return FhirAnswer(200, body, _position(receipt), receipt)

    # ------------------------------------------------------------------ answers

    def _envelope(self, raw: bytes, sender: str, received_at: datetime, message_type: str,
                  data: dict[str, Any] | None) -> Envelope:
        return Envelope(sender, CHANNEL, raw, received_at, _control_id(data), message_type)

    def _refuse(self, raw: bytes, sender: str, received_at: datetime,
                problems: tuple[Problem, ...], status: int, message_type: str) -> FhirAnswer:
        envelope = self._envelope(raw, sender, received_at, message_type, None)
        return self._refuse_envelope(envelope, problems, status)

    def _refuse_envelope(self, envelope: Envelope, problems: tuple[Problem, ...],
                         status: int) -> FhirAnswer:
        """Keep the message raw with its reasons; answer with them."""
        receipt = self._record(envelope, None, problems)
        if receipt.first_outcome == ACCEPTED:  # an accepted message sent again, same bytes
            return FhirAnswer(200, operation_outcome((), "already received"),
                              _position(receipt), receipt)
        return FhirAnswer(status, operation_outcome(problems), _position(receipt), receipt)

    def _answer_refusal(self, receipt: Receipt, status: int) -> FhirAnswer:
        return FhirAnswer(status, operation_outcome(receipt.problems), _position(receipt),
                          receipt)

    def _location(self, resource_type: str, data: dict[str, Any], receipt: Receipt,
                  subject: SubjectRecord | None, in_message: str) -> str:
        """Patients live at their elder id; other records at the sender's id, else at
        `in_message`: the message that brought them and their place in it."""
        if resource_type == "Patient" and receipt.elder_ids:
            linkable = [i for i in (subject.identifiers if subject else ()) if i.linkable]
            elder = self.app.elder_for(linkable[0]) if linkable else None
            return f"Patient/{elder or receipt.elder_ids[0]}"
        logical = data.get("id") or in_message
        return f"{resource_type}/{logical}"

    def _created(self, receipt: Receipt, status: int, location: str) -> FhirAnswer:
        headers = {**_position(receipt), "Location": location}
        outcome = operation_outcome([p for p in receipt.problems if p.severity == "warning"],
                                    "created" if status == 201 else "already known")
        return FhirAnswer(status, outcome, headers, receipt)


def _unsupported(resource_type: str, base: str) -> Problem:
    return Problem("not-supported",
                   f"{resource_type} is not supported; the message is kept and can be "
                   "processed when it is", f"{base or resource_type}.resourceType"
                   if base else resource_type)


def _control_id(data: dict[str, Any] | None) -> str:
    """A resource's version identity, or a Bundle's identifier; else the content hash decides."""
    if not data:
        return ""
    if data.get("resourceType") == "Bundle":
        ident = data.get("identifier") or {}
        value = ident.get("value") if isinstance(ident, dict) else None
        return f"Bundle?identifier={ident.get('system', '')}|{value}" if value else ""
    version = (data.get("meta") or {}).get("versionId") if isinstance(data.get("meta"), dict) \
        else None
    if data.get("id") and version:
        return f"{data['resourceType']}/{data['id']}/_history/{version}"
    return ""


def _in_entry_order(problems: list[tuple[int, Problem]]) -> tuple[Problem, ...]:
    return tuple(p for _, p in sorted(problems, key=lambda item: item[0]))


def _position(receipt: Receipt) -> dict[str, str]:
    return {"X-Hub-Position": str(receipt.position)} if receipt.position is not None else {}


def _entry_response(answer: FhirAnswer) -> dict[str, Any]:
    reason = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found",
              422: "Unprocessable Entity"}.get(answer.status, "")
    response: dict[str, Any] = {"status": f"{answer.status} {reason}".strip(),
                                "outcome": answer.body}
    if "Location" in answer.headers:
        response["location"] = answer.headers["Location"]
    return response


def _bundle_patients(entries: list[Any], patients: list[tuple[int, Any]], sender: str
                     ) -> dict[str, tuple[Any, ...]]:
    """How entries may refer to the bundle's Patients: fullUrl, `Patient/{id}`, request URL."""
    found: dict[str, tuple[Any, ...]] = {}
    ctx = resources.Context(sender, datetime.now(UTC), UTC)
    for i, resource in patients:
        ids = resources.patient_identifiers(resource, ctx)
        entry = entries[i]
        keys = [entry.get("fullUrl"), (entry.get("request") or {}).get("url")]
        if resource.id:
            keys.append(f"Patient/{resource.id}")
        for key in keys:
            if key:
                found[key] = ids
    return found


__all__ = ["ACCEPTED", "CHANNEL", "DUPLICATE", "REJECTED", "FhirAnswer", "FhirIntake"]
