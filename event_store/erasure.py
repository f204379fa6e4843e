"""Carrying out erasure: freeze, destroy keys by retention class, forget read models, scrub files."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from uuid import UUID

import sqlalchemy as sa

from event_store.keys import CLINICAL, CONTACT, KeyStore
from event_store.readmodel import ReadModel
from hub.application import HubApplication

log = logging.getLogger("yyhub.erasure")


class Eraser:
    """Every step is idempotent, so an interrupted erasure is finished by running it again."""

    def __init__(self, app: HubApplication, key_store: KeyStore, read_model: ReadModel,
                 also_forget: tuple[sa.Table, ...] = ()):
        self.app = app
        self.key_store = key_store
        self.read_model = read_model
        self.also_forget = also_forget  # other read-model tables keyed by `elder_id`

    def erase(self, elder_id: UUID, requested_by: str, legal_basis: str,
              now: datetime | None = None) -> datetime:
        """Freeze the elder and destroy contact data now; returns when clinical data will go."""
        erasure = self.app.request_erasure(elder_id, requested_by, legal_basis,
                                           now or datetime.now(UTC))
        self.key_store.destroy(str(elder_id), CONTACT)
        self.app.elders.forget(elder_id)
        self.forget(str(elder_id))
        self.scrub()
        log.info("erased contact data of %s; clinical data kept until %s", elder_id,
                 erasure.clinical_retained_until)
        return erasure.clinical_retained_until  # type: ignore[no-any-return]

    def enforce_retention(self, now: datetime | None = None) -> list[UUID]:
        """Destroy clinical keys whose legal retention has ended."""
        now = now or datetime.now(UTC)
        destroyed = []
        for erasure in self.app.erasures():
            if not erasure.clinical_destroyed and erasure.clinical_retained_until <= now:
                self.key_store.destroy(str(erasure.elder_id), CLINICAL)
                self.app.record_clinical_destroyed(erasure.elder_id, now)
                destroyed.append(erasure.elder_id)
        if destroyed:
            self.scrub()
        return destroyed

    def forget(self, elder_id: str) -> None:
        """Remove the elder from every read model: a frozen elder is stored, not processed."""
        t = self.read_model.t
        with self.read_model.engine.begin() as conn:
            for table in (t.profile, t.profile_checkpoint, t.identifier, t.timeline,
                          *self.also_forget):
                conn.execute(sa.delete(table).where(table.c.elder_id == elder_id))

    def scrub(self) -> None:
        """Make sure deleted rows (keys, read models) leave no copy in the database files."""
        engine = self.read_model.engine
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if engine.dialect.name == "sqlite":
                conn.execute(sa.text("VACUUM"))
                conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
            else:
                t = self.read_model.t
                tables = (t.profile, t.profile_checkpoint, t.identifier, t.timeline,
                          *self.also_forget)
                for name in ("elder_key", *(table.name for table in tables)):
                    conn.execute(sa.text(f'VACUUM FULL "{name}"'))
