"""Messages kept as rejected are replayed through today's mappings and become facts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from adapters.bootstrap import Hub
from adapters.cli import cli
from adapters.settings import Settings
from hub.application import Receipt
from hub.elder import recorded_facts
from hub.facts import Observation
from hub.inbound import Envelope, InboundMessage
from hub.values import Problem
from tests.messages import resident_id

NATIONAL = resident_id(sequence="072")
ORU = ("MSH|^~\\&|LIS|DGSY|YYHUB|HUB|20260310093000||ORU^R01^ORU_R01|Q1|P|2.5\r"
       f"PID|1||{NATIONAL}^^^^NNCHN||赵^桂兰||19430101|F\r"
       "OBR|1||F9\rOBX|1|NM|8867-4^心率^LN||76|/min|||||F|||20260310090000+0800\r")


def kept_by_an_older_hub(hub: Hub, raw: str, control_id: str) -> Receipt:
    """What a hub without ORU support recorded: the raw message, rejected as unsupported."""
    envelope = Envelope("LIS^DGSY", "mllp", raw.encode(), datetime.now(UTC), control_id,
                        "ORU^R01")
    return hub.app.receive(envelope, None, (Problem(
        "unsupported-message-type", "message type ORU^R01 is not supported", "MSH[1]-9"),))


def test_a_quarantined_result_becomes_facts_once_its_type_is_supported(hub: Hub) -> None:
    first = kept_by_an_older_hub(hub, ORU, "Q1")
    assert first.outcome == "rejected"

    again = hub.hl7.reprocess(first.message_id)
    assert (again.ack_code, again.receipt.outcome) == ("AA", "accepted")
    assert again.receipt.message_id == first.message_id
    events = list(hub.app.events.get(first.message_id))
    assert [type(e).__name__ for e in events] == ["Received", "Rejected", "Reprocessed",
                                                  "Accepted"]
    elder_events = hub.app.elder_events(again.receipt.elder_ids[0])
    with_facts = [e for e in elder_events if recorded_facts(e)]
    assert any(isinstance(d.fact, Observation) for e in with_facts for d in recorded_facts(e))
    assert {e.source.message_id for e in with_facts} == {first.message_id}
    # a second run changes nothing
    assert hub.hl7.reprocess(first.message_id).receipt.fact_count == 0
    hub.projector.catch_up()
    assert hub.read_model.inbound("rejected") == []


def test_yyhub_reprocess_all_rejected_reports_each_outcome(
        settings: Settings, hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    kept = kept_by_an_older_hub(hub, ORU, "Q1")
    still_unsupported = hub.hl7.receive(ORU.replace("ORU^R01^ORU_R01", "SIU^S12")
                                        .replace("Q1", "Q2").encode(), "test")
    hub.projector.catch_up()
    monkeypatch.setenv("YYHUB_DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(cli, ["reprocess", "--all-rejected"])
    assert result.exit_code == 0, result.output
    assert f"{kept.message_id} AA accepted" in result.output
    assert f"{still_unsupported.receipt.message_id} AE rejected" in result.output
    record = hub.app.repository.get(kept.message_id)
    assert isinstance(record, InboundMessage) and record.outcome == "accepted"
