"""A community health centre's HIS sends REF^I12; the hospital finds the referral on its worklist."""

from __future__ import annotations

from adapters.bootstrap import Hub
from tests.messages import resident_id


def ref_i12(national: str, *, control_id: str = "REF0001", number: str = "ZZ-HL7-0001",
            app_ack: str = "AL") -> bytes:
    segments = [
        f"MSH|^~\\&|GPHIS|SQWSFWZX|YYHUB|HUB|20260301090000+0800||REF^I12^REF_I12|{control_id}|P|"
        f"2.5|||AL|{app_ack}|CHN|UNICODE UTF-8",
        f"RF1|P|S|CAR^心血管内科|||{number}||||HTN^高血压控制不满意, 头晕",
        "PRD|RP|王^建国||^^^SQWSFWZX",
        "PRD|RT|陈^主任||^^^DG-RMYY|||DG-RMYY",
        f"PID|1||{national}^^^^NNCHN~MR9^^^SQWSFWZX^MR||张^秀英||19460315|F",
        "DG1|1||I10^高血压^I10|高血压||F",
    ]
    return ("\r".join(segments) + "\r").encode()


def test_community_ref_i12_becomes_an_urgent_referral_answered_with_rri(hub: Hub) -> None:
    national = resident_id()
    answer = hub.hl7.receive(ref_i12(national), "test")
    assert answer.ack_code == "AA"
    lines = answer.ack.split("\r")
    assert lines[0].split("|")[8] == "RRI^I12^RRI_I12"
    assert lines[1] == "MSA|AA|REF0001"
    assert lines[2] == "RF1|P|S|CAR^心血管内科|||ZZ-HL7-0001"

    hub.projector.catch_up()
    incoming = hub.referrals.views.worklist("DG-RMYY", "in")
    assert [(r["number"], r["urgency"], r["from_organisation"], r["elder_name"], r["reason"])
            for r in incoming] == [("ZZ-HL7-0001", "urgent", "SQWSFWZX", "张秀英",
                                    "高血压控制不满意, 头晕")]
    packet = hub.referrals.views.referral(incoming[0]["referral_id"])["packet"]
    assert [p["condition"]["code"] for p in packet["problems"]] == ["I10"]

    resent = hub.hl7.receive(ref_i12(national), "test")
    assert resent.ack_code == "AA" and "MSA|AA|REF0001" in resent.ack
    hub.projector.catch_up()
    assert len(hub.referrals.views.worklist("DG-RMYY", "in")) == 1


def test_ref_i12_without_a_referral_number_gets_ae_naming_rf1_6(hub: Hub) -> None:
    answer = hub.hl7.receive(ref_i12(resident_id(), number="", app_ack="NE"), "test")
    assert answer.ack_code == "AE"
    assert "\rERR||RF1^1^6|101^Required field missing^HL70357|E|" in answer.ack


def test_ref_i12_with_only_accept_acks_asked_gets_a_plain_ack(hub: Hub) -> None:
    answer = hub.hl7.receive(ref_i12(resident_id(), app_ack="NE"), "test")
    assert answer.ack_code == "AA"
    assert "MSA|AA|REF0001" in answer.ack and "RRI" not in answer.ack
