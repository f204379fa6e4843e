"""Organisations that use the hub, their role, and the credentials they present."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from hub.errors import HubError

ORGANISATION_NAMESPACE = uuid5(NAMESPACE_URL, "urn:yyhub:organisation")
ROLES = ("hospital", "family_doctor", "care_home", "regulator", "admin")


class UnknownRole(HubError):
    """Raised when an organisation is registered with a role the hub does not know."""


class Organisation(Aggregate):
    """A hospital, family-doctor team, care home, regulator or the hub's administrators.

    `code` is how sources name the organisation (HL7 MSH-4, a file's organisation column);
    `sending_facilities` are the HL7 facilities it may send as. Only a hash of its key is kept.
    """

    @staticmethod
    def create_id(code: str) -> UUID:
        return uuid5(ORGANISATION_NAMESPACE, code)

    @event("Registered")
    def __init__(self, code: str, name: str, role: str, key_hash: str,
                 sending_facilities: tuple[str, ...]):
        self.check_role(role)
        self.code = code
        self.name = name
        self.role = role
        self.key_hash = key_hash
        self.sending_facilities = tuple(sending_facilities)

    @staticmethod
    def check_role(role: str) -> None:
        if role not in ROLES:
            raise UnknownRole(f"role must be one of {', '.join(ROLES)}, not {role!r}")

    @event("KeyIssued")
    def issue_key(self, key_hash: str) -> None:
        """A new key replaces the old one at once."""
        self.key_hash = key_hash
