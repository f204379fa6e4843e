"""After an erasure, the elder's name, 身份证号 and phone are nowhere in the database."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from adapters.bootstrap import Hub
from event_store.persistence import is_postgres
from hub.elder import recorded_facts
from tests.messages import adt, resident_id

NAME = ("欧阳", "秀珍")
PHONE = "13912345678"
PV1 = ("PV1|1|I|神经内科^302^2^DGSY||||D017^黄^伟|||NEU||||||||||V9"
       "|||||||||||||||||||||||||20260301080000+0800|20260310080000+0800")
DG1 = "DG1|1||I63.9^脑梗死^I10|脑梗死||A"


def everything_stored(database_url: str) -> bytes:
    """The bytes a person with the database files (or a plain dump) could read."""
    url = make_url(database_url)
    if not is_postgres(database_url):
        path = Path(url.database or "")
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    dump = subprocess.run(["pg_dump", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
                           "-U", url.username or "postgres", url.database or ""],
                          capture_output=True, check=True, timeout=120)
    return dump.stdout


def forms(text: str) -> list[bytes]:
    return [text.encode("utf-8"), text.encode("gb18030"), text.encode("unicode_escape")]


def test_erasure_destroys_contact_data_and_keeps_clinical_until_retention_ends(
        hub: Hub, database_url: str) -> None:
    national = resident_id(sequence="052")
    others = resident_id(sequence="054")
    answer = hub.hl7.receive(adt(national_id=national, family=NAME[0], given=NAME[1],
                                 phone=PHONE, extra=(PV1, DG1)).encode(), "test")
    hub.hl7.receive(adt(control_id="OTHER", national_id=others, family="王", given="建国",
                        mrn="OTHER").encode(), "test")
    elder_id = answer.receipt.elder_ids[0]
    hub.projector.catch_up()
    hub.sealer.seal_new()
    assert PHONE.encode() in everything_stored(database_url), "readable before (read model)"
    assert hub.read_model.profile(str(elder_id))["demographics"]["name"] == "欧阳秀珍"

    until = hub.eraser.erase(elder_id, "本人", "个人信息保护法第四十七条 撤回同意")
    hub.projector.catch_up()

    stored = everything_stored(database_url)
    for secret in ("欧阳秀珍", national, PHONE):
        assert not any(form in stored for form in forms(secret)), secret
    assert "王建国".encode() in stored, "other elders stay readable"
    assert hub.read_model.profile(str(elder_id)) is None
    assert hub.read_model.find_elders(national) == []
    assert hub.sealer.verify().intact, "erasure destroys keys, never events"

    # A hospital that sends the same person again is told; the content is not kept.
    again = hub.hl7.receive(adt(control_id="AGAIN", national_id=national, family=NAME[0],
                                given=NAME[1], phone=PHONE).encode(), "test")
    assert again.ack_code == "AE"
    assert again.receipt.problems[0].code == "subject-erased"
    assert not any(f in everything_stored(database_url) for f in forms(PHONE))

    # Clinical records stay (for a regulator) until the inpatient retention of 30 years ends.
    assert until.year == 2056
    kinds = {d.fact.kind for e in hub.app.elder_events(elder_id) for d in recorded_facts(e)}
    assert kinds == {"encounter", "diagnosis"}
    assert hub.eraser.enforce_retention(datetime.now(UTC)) == []
    assert hub.eraser.enforce_retention(until + timedelta(days=1)) == [elder_id]
    assert hub.app.elder_events(elder_id) == []


def test_a_rebuild_after_erasure_equals_the_live_read_model(hub: Hub) -> None:
    national = resident_id(sequence="056")
    answer = hub.hl7.receive(adt(national_id=national, extra=(DG1,)).encode(), "test")
    hub.hl7.receive(adt(control_id="KEEP", national_id=resident_id(sequence="058"),
                        mrn="KEEP").encode(), "test")
    hub.eraser.erase(answer.receipt.elder_ids[0], "本人", "撤回同意")
    hub.projector.catch_up()
    live = hub.read_model.all_profiles()
    hub.read_model.drop()
    hub.read_model.create()
    hub.projector.ensure_tracking()
    hub.projector.catch_up()
    assert hub.read_model.all_profiles() == live
    assert len(live) == 1
