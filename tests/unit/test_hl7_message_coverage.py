"""Results, documents, referrals and visit events from hospital HL7 v2 become the right facts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from adapters.hl7v2.intake import MAPPINGS
from hub.facts import (
    ClinicalDocument,
    Encounter,
    Observation,
    Procedure,
    ReferralRequested,
)
from mappings.errors import MappingError
from mappings.hl7v2 import er7
from tests.messages import resident_id

SHANGHAI = ZoneInfo("Asia/Shanghai")
NATIONAL = resident_id(sequence="052")
MSH = ("MSH|^~\\&|LIS|DGSY|YYHUB|HUB|20260310093000||{type}|{cid}|P|2.5|||||CHN|UNICODE UTF-8")
PID = f"PID|1||{NATIONAL}^^^^NNCHN~MR9^^^DGSY^MR||王^建国||19440101|M"


def mapped(*segments: str, type_: str, cid: str = "C1"):  # type: ignore[no-untyped-def]
    text = "\r".join((MSH.format(type=type_, cid=cid), *segments))
    message = er7.parse(text)
    code, trigger = type_.split("^")[:2]
    return MAPPINGS[(code, trigger)](message, SHANGHAI)


def facts_of(result, kind: type):  # type: ignore[no-untyped-def]
    return [(d.fact, d.occurred_at) for s in result.subjects for d in s.facts
            if isinstance(d.fact, kind)]


def test_lab_results_keep_numbers_units_ranges_flags_and_notes() -> None:
    result = mapped(
        PID,
        "OBR|1|P100|F200^LIS|GLU^血糖^L|||20260310070000",
        "OBX|1|NM|14749-6^葡萄糖^LN||7.8|mmol/L^mmol/L^UCUM|3.9-6.1|H|||F|||20260310071500",
        "NTE|1||空腹采血",
        "OBX|2|CWE|5778-6^尿液颜色^LN||YEL^黄色^L||||||F",
        "OBX|3|SN|5803-2^尿pH^LN||<^5||||||P",
        "OBX|4|TX|8251-1^医生意见^LN||第一行~第二行||||||F",
        type_="ORU^R01^ORU_R01")
    observations = facts_of(result, Observation)
    glucose, when = observations[0]
    assert (glucose.value_quantity, glucose.unit, glucose.unit_code) == (Decimal("7.8"),
                                                                         "mmol/L", "mmol/L")
    assert (glucose.reference_range, glucose.interpretation, glucose.note) == ("3.9-6.1", "H",
                                                                                "空腹采血")
    assert glucose.observation_id == "F200|14749-6"
    assert when == datetime(2026, 3, 10, 7, 15, tzinfo=SHANGHAI)
    colour, colour_when = observations[1]
    assert colour.value_coding is not None and colour.value_coding.display == "黄色"
    assert colour_when == datetime(2026, 3, 10, 7, 0, tzinfo=SHANGHAI)  # OBR-7 when no OBX-14
    assert observations[2][0].value_text == "<5" and observations[2][0].status == "preliminary"
    assert observations[3][0].value_text == "第一行\n第二行"


def test_a_corrected_result_keeps_the_id_of_the_result_it_corrects() -> None:
    obx = "OBX|1|NM|8480-6^收缩压^LN||{v}|mm[Hg]|||||{s}|||2026031008{m}00+0800"
    first = mapped(PID, "OBR|1||F1", obx.format(v=180, s="F", m="00"), type_="ORU^R01")
    fixed = mapped(PID, "OBR|1||F1", obx.format(v=130, s="C", m="05"), type_="ORU^R01",
                   cid="C2")
    (a, _), (b, _) = facts_of(first, Observation)[0], facts_of(fixed, Observation)[0]
    assert a.observation_id == b.observation_id and a.key == b.key
    assert (b.status, b.value_quantity) == ("corrected", Decimal("130"))


def test_a_number_that_is_not_a_number_names_the_field() -> None:
    with pytest.raises(MappingError) as error:
        mapped(PID, "OBR|1", "OBX|1|NM|8480-6^收缩压^LN||一百三||||||F", type_="ORU^R01")
    assert error.value.problems[0].location == "OBX[1]-5"


def test_results_for_two_patients_in_one_message_go_to_each() -> None:
    other = f"PID|1||{resident_id(sequence='054')}^^^^NNCHN||李^梅||19450101|F"
    result = mapped(PID, "OBR|1", "OBX|1|NM|8867-4^心率^LN||72|/min||||||F", other, "OBR|1",
                    "OBX|1|NM|8867-4^心率^LN||88|/min||||||F", type_="ORU^R01")
    assert [len(s.facts) for s in result.subjects] == [2, 2]
    assert result.subjects[1].facts[1].fact.value_quantity == Decimal("88")


def test_discharge_summary_arrives_as_a_document_with_its_text() -> None:
    result = mapped(
        PID, "EVN|T02|20260310090000",
        "TXA|1|DS^出院小结^L|TX|20260310085500||||||||DOC-77||||AU",
        "OBX|1|TX|18842-5^出院小结^LN||患者好转出院。~嘱低盐饮食。||||||F",
        type_="MDM^T02^MDM_T02")
    (document, when), = facts_of(result, ClinicalDocument)
    assert (document.document_id, document.title, document.status) == ("DOC-77", "出院小结",
                                                                      "final")
    assert document.text == "患者好转出院。\n嘱低盐饮食。"
    assert when == datetime(2026, 3, 10, 8, 55, tzinfo=SHANGHAI)


def test_a_referral_request_is_recorded_as_a_fact() -> None:
    result = mapped(
        "RF1|P^Pending^HL70283|S^Stat^HL70280|REH^康复^L||||20260310|||^脑卒中后康复|R-88",
        "PRD|RP|黄^伟|||||",
        "PRD|RT|||^^^^^^^^^东城颐养院",
        PID, type_="REF^I12^REF_I12")
    (referral, when), = facts_of(result, ReferralRequested)
    assert (referral.referral_id, referral.urgency, referral.reason) == ("R-88", "stat",
                                                                          "脑卒中后康复")
    assert referral.to_organisation == "东城颐养院"
    assert when == datetime(2026, 3, 10, tzinfo=SHANGHAI)


@pytest.mark.parametrize(("trigger", "event", "status"), [
    ("A02", "transferred", "in-progress"), ("A03", "discharged", "finished"),
    ("A05", "pre-admitted", "planned"), ("A11", "admission-cancelled", "cancelled"),
    ("A12", "transfer-cancelled", "in-progress"), ("A13", "discharge-cancelled", "in-progress"),
])
def test_visit_events_and_cancellations_become_encounter_facts(trigger: str, event: str,
                                                               status: str) -> None:
    result = mapped(f"EVN|{trigger}|20260310090000", PID, "PV1|1|I|W3^301^1||||||||||||||||V9",
                    "PR1|1||0DTJ4ZZ^阑尾切除术^I10P||20260309100000", type_=f"ADT^{trigger}")
    (encounter, _), = facts_of(result, Encounter)
    assert (encounter.event, encounter.status, encounter.visit_number) == (event, status, "V9")
    (procedure, done), = facts_of(result, Procedure)
    assert procedure.procedure.display == "阑尾切除术"
    assert done == datetime(2026, 3, 9, 10, tzinfo=SHANGHAI)


def test_person_updates_make_no_visit() -> None:
    result = mapped("EVN|A31|20260310090000", PID, "PV1|1|I|||||||||||||||||V9",
                    type_="ADT^A31^ADT_A05")
    assert facts_of(result, Encounter) == []


def test_a_mislabelled_structure_is_ignored_and_the_trigger_decides() -> None:
    result = mapped("EVN|A03|20260310090000", PID, "PV1|1|I|||||||||||||||||V9",
                    type_="ADT^A03^ADT_A99")
    assert facts_of(result, Encounter)[0][0].event == "discharged"
