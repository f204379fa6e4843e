"""One identifier, one elder: an index aggregate per identifier value.

The index's id is derived from the identifier, so two messages about a new person that arrive at
the same moment both try to create the same index record; the store accepts one and the other is
retried and finds the elder the first one created.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from hub.values import Identifier

INDEX_NAMESPACE = uuid5(NAMESPACE_URL, "urn:yyhub:identifier-index")

# Systems in the order we prefer them as an elder's master identity (strongest first).
RESIDENT_ID_SYSTEM = "urn:oid:2.16.156.10011.1.3"  # 公民身份号码
HEALTH_CARD_SYSTEM = "urn:oid:2.16.156.10011.1.19"  # 居民健康卡号
SOCIAL_SECURITY_CARD_SYSTEM = "urn:yyhub:id:social-security-card"  # 社会保障卡卡号
HEALTH_RECORD_SYSTEM = "urn:oid:2.16.156.10011.1.2"  # 健康档案标识号
STRENGTH_ORDER = (RESIDENT_ID_SYSTEM, HEALTH_CARD_SYSTEM, SOCIAL_SECURITY_CARD_SYSTEM,
                  HEALTH_RECORD_SYSTEM)


def strength(identifier: Identifier) -> int:
    """Lower is stronger: national id first, local record numbers last."""
    try:
        return STRENGTH_ORDER.index(identifier.system)
    except ValueError:
        return len(STRENGTH_ORDER)


class IdentifierIndex(Aggregate):
    """Says which elder an identifier belongs to."""

    @staticmethod
    def create_id(identifier: Identifier) -> UUID:
        return uuid5(INDEX_NAMESPACE, identifier.key)

    @event("Assigned")
    def __init__(self, identifier: Identifier, elder_id: UUID):
        self.identifier = identifier
        self.elder_id = elder_id
