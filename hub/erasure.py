"""Erasure requests (PIPL art. 47): freeze the elder, destroy contact data at once, clinical data
when its legal retention ends (outpatient 15 years after the last visit, inpatient 30 after
discharge)."""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

ERASURE_NAMESPACE = uuid5(NAMESPACE_URL, "urn:yyhub:erasure")
OUTPATIENT_YEARS = 15
INPATIENT_YEARS = 30


def clinical_retention_end(visits: list[tuple[str, datetime]], requested_at: datetime
                           ) -> datetime:
    """When the last clinical record may be destroyed.

    `visits` are (patient class code, end or start of the visit); an inpatient stay ("I") keeps
    records 30 years after discharge, anything else 15 years after the visit.
    """
    ends = [requested_at]
    for patient_class, when in visits:
        years = INPATIENT_YEARS if patient_class == "I" else OUTPATIENT_YEARS
        ends.append(when.replace(year=when.year + years))
    return max(ends)


class Erasure(Aggregate):
    """The erasure of one elder; holds no personal data, so it survives the erasure."""

    @staticmethod
    def create_id(elder_id: UUID) -> UUID:
        return uuid5(ERASURE_NAMESPACE, str(elder_id))

    @event("Requested")
    def __init__(self, elder_id: UUID, requested_by: str, legal_basis: str,
                 requested_at: datetime, clinical_retained_until: datetime,
                 birth_year: int | None = None, sex: str = ""):
        """`birth_year` and `sex` are the non-identifying residue that keeps the erased elder
        counted in statistics after their contact data are destroyed."""
        self.elder_id = elder_id
        self.clinical_retained_until = clinical_retained_until
        self.clinical_destroyed = False

    @event("ClinicalDataDestroyed")
    def destroy_clinical(self, destroyed_at: datetime) -> None:
        self.clinical_destroyed = True
