"""HL7 v2 tables the mappings translate, with Chinese display names for people reading them."""

from __future__ import annotations

from hub.values import Coding

PATIENT_CLASS_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0004"
# HL7 table 0004 → (FHIR v3 ActCode encounter class, 中文)
PATIENT_CLASS = {
    "E": ("EMER", "急诊"), "I": ("IMP", "住院"), "O": ("AMB", "门诊"), "P": ("PRENC", "预住院"),
    "R": ("IMP", "复发住院"), "B": ("OBSENC", "产科"), "C": ("AMB", "商业账户"),
    "N": ("AMB", "不适用"), "U": ("AMB", "未知"),
}

ALLERGEN_TYPE = {  # HL7 table 0127
    "DA": "medication", "FA": "food", "MA": "environment", "MC": "medication",
    "EA": "environment", "AA": "environment", "PA": "environment", "LA": "environment",
}
ALLERGY_SEVERITY = {"SV": "severe", "MO": "moderate", "MI": "mild", "U": ""}

RELATIONSHIP_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0063"
MARITAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0002"


def patient_class(code: str) -> Coding | None:
    code = code.strip().upper()
    if not code:
        return None
    act, name = PATIENT_CLASS.get(code, ("", code))
    return Coding(PATIENT_CLASS_SYSTEM, code, name)


def coding_system(name: str) -> str:
    """HL7 coding-system names (table 0396) to URIs; unknown names are kept as sent."""
    upper = name.strip().upper()
    known = {
        "I10": "http://hl7.org/fhir/sid/icd-10", "ICD10": "http://hl7.org/fhir/sid/icd-10",
        "ICD-10": "http://hl7.org/fhir/sid/icd-10", "I9C": "http://hl7.org/fhir/sid/icd-9-cm",
        "I10C": "http://hl7.org/fhir/sid/icd-10-cm", "LN": "http://loinc.org",
        "SCT": "http://snomed.info/sct", "SNM": "http://snomed.info/sct",
        "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
        "GB/T 15657": "urn:oid:2.16.156.10011.2.3.3.11",
    }
    return known.get(upper, name.strip())
