"""Reading FHIR JSON: parse, validate with the R4 models, and name bad elements by FHIRPath.

The package's default models are R5; R4 fields such as `MedicationRequest.medicationCodeableConcept`
only exist in `fhir.resources.R4B`, so every resource goes through that package.
"""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from hub.values import Problem
from mappings.errors import MappingError
from mappings.limits import json_depth_exceeds, too_deep_message

# Types whose content becomes facts; others are kept raw and answered "not supported".
SUPPORTED_TYPES = (
    "Patient", "Encounter", "Observation", "Condition", "AllergyIntolerance",
    "MedicationRequest", "MedicationStatement", "Procedure", "DiagnosticReport",
    "Immunization", "DocumentReference", "ServiceRequest", "Task", "CarePlan", "Consent",
)


class UnsupportedType(MappingError):
    """Raised for a valid resource type the hub does not turn into facts (kept raw)."""


def parse_json(raw: bytes) -> dict[str, Any]:
    """The JSON object in a request body, or a MappingError saying why it is not one."""
    if json_depth_exceeds(raw):
        raise MappingError(Problem("json-too-deep", too_deep_message(), ""))
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise MappingError(Problem("invalid-json", f"body is not JSON: {error}", "")) from error
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise MappingError(Problem("invalid-resource",
                                   "body is not a FHIR resource (no resourceType)", "resourceType"))
    return data


def fhirpath(base: str, loc: tuple[int | str, ...]) -> str:
    """`Observation.component[0].valueQuantity.value` from a pydantic error location."""
    path = base
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part and "[" not in part and "-" not in part:
            path += f".{part.removesuffix('__ext')}"
    return path


def problems_from(error: ValidationError, base: str) -> tuple[Problem, ...]:
    """One problem per pydantic error, each carrying the FHIRPath of the bad element."""
    return tuple(Problem("invalid-resource", item["msg"], fhirpath(base, item["loc"]))
                 for item in error.errors(include_url=False))


def validate(data: dict[str, Any], base: str = "", expected_type: str | None = None) -> Resource:
    """The R4 model of a resource; MappingError names each bad element.

    `base` prefixes the FHIRPath (e.g. `Bundle.entry[3].resource`) so errors inside a Bundle
    name their entry.
    """
    resource_type = data.get("resourceType")
    where = base or str(resource_type)
    if expected_type and resource_type != expected_type:
        raise MappingError(Problem(
            "wrong-type", f"expected a {expected_type}, got {resource_type}",
            f"{base}.resourceType" if base else "resourceType"))
    try:
        model = get_fhir_model_class(str(resource_type))
    except KeyError as error:
        raise MappingError(Problem("unknown-type", f"{resource_type} is not a FHIR R4 resource",
                                   f"{base}.resourceType" if base else "resourceType")) from error
    try:
        resource = model.model_validate(data)
    except ValidationError as error:
        raise MappingError(problems_from(error, where)) from error
    assert isinstance(resource, Resource)
    return resource
