"""OperationOutcome: how FHIR answers say what went wrong and where (FHIRPath `expression`)."""

from __future__ import annotations

from typing import Any

from hub.values import Problem

# The hub's problem codes → FHIR issue-type codes.
ISSUE_TYPES = {
    "invalid-json": "structure", "invalid-resource": "invalid", "wrong-type": "invalid",
    "unknown-type": "not-supported", "not-supported": "not-supported",
    "unresolvable-reference": "not-found", "unknown-subject": "not-found",
    "subject-missing": "required", "identifier-missing": "required", "code-missing": "required",
    "identity-conflict": "conflict", "control-id-reused": "duplicate",
}


def operation_outcome(problems: tuple[Problem, ...] | list[Problem],
                      information: str = "") -> dict[str, Any]:
    """An R4 OperationOutcome with one issue per problem (or one informational issue)."""
    issues = []
    for p in problems:
        issue: dict[str, Any] = {
            "severity": "error" if p.is_error else "warning",
            "code": ISSUE_TYPES.get(p.code, "processing"),
            "diagnostics": p.message,
        }
        if p.location:
            issue["expression"] = [p.location]
        issues.append(issue)
    if not issues:
        issues.append({"severity": "information", "code": "informational",
                       "diagnostics": information or "ok"})
    return {"resourceType": "OperationOutcome", "issue": issues}
