"""The composition root: builds every part of the hub from settings, in one place."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from event_store.persistence import StoredHub, open_store
from event_store.projector import Projector
from event_store.readmodel import ReadModel, create_engine, define_tables
from event_store.retry import transient_retry

from adapters.hl7v2.intake import Hl7Intake
from adapters.settings import Settings


@dataclass
class Hub:
    """A running hub: the application service, its read model and the intakes."""

    settings: Settings
    app: StoredHub
    read_model: ReadModel
    projector: Projector
    hl7: Hl7Intake
    _worker: threading.Thread | None = field(default=None, repr=False)

    def start_worker(self) -> None:
        """Keep the read model fresh in the background (for `serve`)."""
        if self._worker is None:
            self._worker = threading.Thread(target=self.projector.run_forever,
                                            name="projection-worker", daemon=True)
            self._worker.start()

    def close(self) -> None:
        self.projector.stop()
        if self._worker is not None:
            self._worker.join(timeout=10)
            self._worker = None
        self.app.close()
        self.read_model.engine.dispose()


def bootstrap(settings: Settings | None = None) -> Hub:
    settings = settings or Settings()
    app = open_store(settings.database_url)
    read_model = ReadModel(create_engine(settings.database_url),
                           define_tables(settings.read_model_prefix))
    read_model.create()
    projector = Projector(app, read_model, batch_size=settings.projection_batch_size)
    projector.ensure_tracking()
    record = transient_retry()(app.receive)
    hl7 = Hl7Intake(app, settings.zone, record=record,
                    record_many=transient_retry()(app.receive_many))
    return Hub(settings, app, read_model, projector, hl7)
