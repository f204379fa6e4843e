"""Hospitals stream HL7 v2 over one MLLP connection and get each ACK only after the commit."""

from __future__ import annotations

import hashlib

from eventsourcing.application import AggregateNotFoundError
from hl7.client import MLLPClient

from adapters.bootstrap import Hub
from adapters.hl7v2.intake import MAPPINGS
from adapters.hl7v2.mllp import FrameReader, frame
from hub.inbound import ACCEPTED, InboundMessage
from mappings.hl7v2 import er7
from tests.corpus import corpus_messages, message_type
from tests.messages import adt, resident_id
from tests.mllp_helpers import ack_code, ack_control_id, exchange, running_listener


def _inbound_record(hub: Hub, raw: bytes) -> InboundMessage:
    """The stored record of a message (keyed by content too when its control id was reused)."""
    message, _ = er7.read(raw)
    msh = message.first("MSH")
    sender = f"{message.get(msh, 3, 1)}^{message.get(msh, 4, 1)}"
    sha = hashlib.sha256(raw).hexdigest()
    for content_keyed in (True, False):
        try:
            found = hub.app.repository.get(InboundMessage.create_id(
                sender, message.get(msh, 10), sha, content_keyed=content_keyed))
        except AggregateNotFoundError:
            continue
        if found.sha256 == sha:
            return found  # type: ignore[no-any-return]
    raise AssertionError("message not stored")


def test_hospital_streams_the_whole_corpus_over_one_connection(hub: Hub) -> None:
    """Acceptance 1: in-scope types AA, others AE, each committed before its ACK arrives."""
    answered: dict[str, str] = {}
    accepted: list[bytes] = []
    with running_listener(hub) as listener, MLLPClient("127.0.0.1", listener.port) as client:
        for name, raw in corpus_messages():
            answer = exchange(client, raw)
            code = ack_code(answer)
            answered[name] = code
            expected = "AA" if message_type(raw) in MAPPINGS else "AE"
            assert code == expected, (name, answer[:600])
            if code == "AA":
                # the ACK came back, so the message must already be in the store
                assert _inbound_record(hub, raw).outcome == ACCEPTED, name
                accepted.append(raw)
    assert len(answered) == 139
    hub.projector.catch_up()
    for raw in accepted:
        for elder_id in _inbound_record(hub, raw).elder_ids:
            assert hub.read_model.profile(str(elder_id)) is not None
    rejected = {row["message_type"] for row in hub.read_model.inbound("rejected", 1000)}
    assert ("ORM^O01" in rejected) and ("SIU^S12" in rejected)


def test_garbage_between_frames_is_reported_and_the_next_message_still_answered(
        sqlite_hub: Hub) -> None:
    first = adt(control_id="G1", national_id=resident_id(sequence="032")).encode()
    second = adt(control_id="G2", national_id=resident_id(sequence="034")).encode()
    with running_listener(sqlite_hub) as listener, \
            MLLPClient("127.0.0.1", listener.port) as client:
        answer = exchange(client, b"noise\r\n" + frame(first), framed=True)
        assert (ack_code(answer), ack_control_id(answer)) == ("AA", "G1")
        answer = exchange(client, b"\x1c\rmore noise" + frame(second), framed=True)
        assert (ack_code(answer), ack_control_id(answer)) == ("AA", "G2")


def test_a_message_over_the_size_limit_is_refused_and_the_connection_stays_open(
        sqlite_hub: Hub) -> None:
    note = "NTE|1||" + "很长的备注" * 2000
    big = adt(control_id="BIG", national_id=resident_id(sequence="036"), extra=(note,)).encode()
    small = adt(control_id="SMALL", national_id=resident_id(sequence="038")).encode()
    with running_listener(sqlite_hub, max_message_bytes=20_000) as listener, \
            MLLPClient("127.0.0.1", listener.port) as client:
        answer = exchange(client, big)
        assert (ack_code(answer), ack_control_id(answer)) == ("AR", "BIG")
        assert b"message-too-large" in answer
        assert ack_code(exchange(client, small)) == "AA"


def test_chinese_names_arrive_intact_over_mllp_in_gb18030(sqlite_hub: Hub) -> None:
    raw = adt(control_id="GB1", national_id=resident_id(sequence="042"), family="诸葛",
              given="秀兰", charset="GB 18030-2000").encode("gb18030")
    with running_listener(sqlite_hub) as listener, \
            MLLPClient("127.0.0.1", listener.port) as client:
        answer = exchange(client, raw)
    assert ack_code(answer) == "AA"
    assert "GB 18030" in answer.decode("gb18030")
    sqlite_hub.projector.catch_up()
    elder = sqlite_hub.read_model.find_elders(resident_id(sequence="042"))[0]
    assert sqlite_hub.read_model.profile(elder["id"])["demographics"]["name"] == "诸葛秀兰"


def test_frames_split_across_reads_and_several_in_one_read_are_all_found() -> None:
    reader = FrameReader(max_message_bytes=100)
    stream = frame(b"MSH|one") + b"junk" + frame(b"MSH|two") + frame(b"MSH|three")
    found = [event for i in range(0, len(stream), 5) for event in reader.feed(stream[i:i + 5])]
    assert found == [("message", b"MSH|one"), ("garbage", b"junk"), ("message", b"MSH|two"),
                     ("message", b"MSH|three")]


def test_mllp_accepts_only_facilities_registered_to_an_organisation(sqlite_hub: Hub) -> None:
    """MLLP carries no key: a sender is known by MSH-4, registered with `orgs add --facility`."""
    import asyncio
    import threading

    from adapters.hl7v2.serve import mllp_listener
    from tests.api import register

    register(sqlite_hub, "DGSY", "hospital", ("DGSY",))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    listener = mllp_listener(sqlite_hub)
    asyncio.run_coroutine_threadsafe(listener.start("127.0.0.1", 0), loop).result(10)
    try:
        with MLLPClient("127.0.0.1", listener.port) as client:
            known = client.send_message(adt(control_id="K1", national_id=resident_id(
                sequence="072")).encode()).decode()
            stranger = client.send_message(adt(control_id="K2", facility="UNKNOWN-HIS",
                                               national_id=resident_id(sequence="074"))
                                           .encode()).decode()
    finally:
        asyncio.run_coroutine_threadsafe(listener.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    assert "MSA|AA|K1" in known
    assert "MSA|AR|K2" in stranger and "unknown-sender" in stranger
    sqlite_hub.projector.catch_up()
    refused = [r for r in sqlite_hub.read_model.inbound("rejected") if "UNKNOWN-HIS" in r["sender"]]
    assert len(refused) == 1, "the refused message is kept"
