"""GET /metrics: Prometheus text format, for the people who run the hub.

Totals come from the database at scrape time, so every process reports the same truth;
retries are counted by the process that made them.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from adapters.api.deps import HubDep, require_role
from adapters.api.guards import REFUSED
from adapters.hl7v2.mllp import MLLP_FAULTS
from event_store.projector import PROJECTION
from event_store.retry import RETRIES

router = APIRouter(tags=["operations"], dependencies=[require_role("admin", "regulator")])


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(hub: HubDep) -> Response:
    registry = CollectorRegistry()
    inbound = Gauge("yyhub_inbound_messages", "Messages kept, by channel and outcome "
                    "(rejected = quarantined with a reason)", ["channel", "outcome"],
                    registry=registry)
    for (channel, outcome), count in hub.read_model.inbound_counts().items():
        inbound.labels(channel, outcome).set(count)
    head = hub.app.recorder.max_notification_id() or 0
    position = hub.read_model.position(PROJECTION)
    Gauge("yyhub_log_position", "Newest position in the event log",
          registry=registry).set(head)
    Gauge("yyhub_projection_lag_events", "Events recorded but not yet in the read model",
          ["projection"], registry=registry).labels(PROJECTION).set(max(head - position, 0))
    Gauge("yyhub_transient_retries", "Transient database errors retried by this process",
          registry=registry).set(RETRIES["count"])
    faults = Gauge("yyhub_mllp_faults", "MLLP messages left unacknowledged (not committed), "
                   "and connections closed as idle or over the cap, by this process", ["kind"],
                   registry=registry)
    for kind, count in MLLP_FAULTS.items():
        faults.labels(kind).set(count)
    refused = Gauge("yyhub_http_refused", "HTTP requests refused at the door by this process: "
                    "too large, JSON too deep, database unavailable (503)", ["reason"],
                    registry=registry)
    for reason, count in REFUSED.items():
        refused.labels(reason).set(count)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
