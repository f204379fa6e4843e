"""A mapper that encrypts each elder's personal data with that elder's own keys.

Which events hold whose data, and of which class, is decided here from the event's type:
an elder's identity, contact and demographic facts, the identifier index and the raw inbound
message are contact data; the other facts are clinical. Everything else is stored as usual.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Mapper, StoredEvent

from event_store.keys import CLINICAL, CONTACT, KeyStore
from hub.elder import Elder
from hub.errors import PersonalDataErased
from hub.identity import IdentifierIndex
from hub.inbound import InboundMessage
from hub.referrals import Referral

MAGIC = b"\x00YYE1"
CLASS_CODES = {CONTACT: b"c", CLINICAL: b"k"}
CLASSES = {v: k for k, v in CLASS_CODES.items()}
ELDER_TOPIC = "hub.elder:Elder"


def personal_data_of(event: Any) -> tuple[str, str] | None:
    """(elder id, data class) of the personal data an event holds, or None."""
    if isinstance(event, Elder.FactsRecorded):
        classes = {CONTACT if f.is_contact_data else CLINICAL for f in event.facts}
        if len(classes) != 1:
            raise ValueError("one event must hold facts of one class of personal data")
        return str(event.originator_id), classes.pop()
    if isinstance(event, Elder.Event):
        return str(event.originator_id), CONTACT
    if getattr(event, "topic", None) == ELDER_TOPIC:  # a snapshot of an Elder
        return str(event.originator_id), CONTACT
    if isinstance(event, IdentifierIndex.Assigned):
        return str(event.elder_id), CONTACT
    if isinstance(event, InboundMessage.Accepted) and event.elder_ids:
        return str(event.elder_ids[0]), CONTACT
    if isinstance(event, Referral.Requested):
        # A 转诊单 with its handover packet is part of the medical record: kept (encrypted)
        # for the clinical retention period, like the other clinical records.
        return str(event.elder_id), CLINICAL
    return None


class PersonalDataMapper(Mapper[UUID]):
    """Encrypts personal data per elder and class (AES-256-GCM, bound to the event's place)."""

    key_store: KeyStore

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        stored = super().to_stored_event(domain_event)
        owner = personal_data_of(domain_event)
        if owner is None:
            return stored
        elder_id, data_class = owner
        key = self.key_store.key(elder_id, data_class, create=True)
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, stored.state, _bound_to(stored))
        header = MAGIC + CLASS_CODES[data_class] + UUID(elder_id).bytes + nonce
        return dataclasses.replace(stored, state=header + sealed)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        state = bytes(stored_event.state)
        if state.startswith(MAGIC):
            data_class = CLASSES[state[5:6]]
            elder_id = str(UUID(bytes=state[6:22]))
            nonce, sealed = state[22:34], state[34:]
            key = self.key_store.key(elder_id, data_class, create=False)
            try:
                plain = AESGCM(key).decrypt(nonce, sealed, _bound_to(stored_event))
            except InvalidTag as error:
                raise PersonalDataErased(f"event {stored_event.originator_id}/"
                                         f"{stored_event.originator_version} cannot be "
                                         "decrypted") from error
            stored_event = dataclasses.replace(stored_event, state=plain)
        return super().to_domain_event(stored_event)


def _bound_to(stored: StoredEvent) -> bytes:
    """Associated data: a ciphertext moved to another event's place does not decrypt."""
    return f"{stored.originator_id}|{stored.originator_version}|{stored.topic}".encode()
