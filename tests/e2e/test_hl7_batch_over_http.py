"""Over HTTP: a hospital uploads a day's batch (FHS/BHS … BTS/FTS) and gets one ACK per message."""

from __future__ import annotations

from fastapi.testclient import TestClient

from adapters.api.app import create_app
from adapters.bootstrap import Hub
from tests.api import as_sender
from tests.messages import adt, resident_id


def test_a_batch_file_is_answered_with_an_ack_per_message_in_order(sqlite_hub: Hub) -> None:
    messages = [adt(control_id="B1", national_id=resident_id(sequence="062")),
                adt(control_id="B2", national_id=resident_id(sequence="064"), separator="\n"),
                adt(control_id="B3").replace("ADT^A01^ADT_A01", "SIU^S12^SIU_S12")]
    batch = ("FHS|^~\\&|HIS|DGSY\rBHS|^~\\&|HIS|DGSY\r" + "".join(messages)
             + "BTS|3\rFTS|1\r").encode()
    with TestClient(create_app(hub=sqlite_hub, background_worker=False),
                    headers=as_sender(sqlite_hub, "DGSY")) as client:
        answer = client.post("/hl7v2", content=batch)
    segments = answer.text.split("\r")
    assert segments[0].startswith("FHS") and segments[1].startswith("BHS")
    assert [s.split("|")[1:3] for s in segments if s.startswith("MSA")] == [
        ["AA", "B1"], ["AA", "B2"], ["AE", "B3"]]
    assert "BTS|3" in segments and "FTS|1" in segments
    assert answer.headers["X-Ack-Code"] == "AE"
    assert answer.headers["X-Batch-Count"] == "3"
