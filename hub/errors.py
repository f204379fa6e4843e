"""Domain errors. Each says in its docstring when it is raised."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the domain raises on purpose."""


class ElderNotFound(HubError):
    """Raised when an elder id names no elder in the store."""


class IdentityConflict(HubError):
    """Raised when a message's identifiers point at more than one elder."""


class PersonalDataErased(HubError):
    """Raised when data is asked of an elder whose keys were destroyed (PIPL art. 47)."""
