"""In Chromium: a care home sends 张秀英 up to hospital with a pre-filled 转诊单, the hospital's
desk accepts and returns her, the care home reads the 出院小结, and the regulator sees the
referral in the statistics and every page view in the audit log. A family doctor sees the
contract status and the contracts that end soon."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from playwright.sync_api import Browser, Page

from adapters.bootstrap import Hub, bootstrap
from adapters.settings import Settings
from hub.referrals import ReferralForm, handover_packet
from tests.api import register
from tests.care_records import contract, csv_bytes, vital_signs
from tests.e2e.browser import CHROMIUM, log_in, running_server, scroll_width, shot
from tests.messages import adt, resident_id
from tests.referral_support import EXTRA, HandClock

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="needs Debian's chromium (.ci/run installs it)")

CARE_HOME, HOSPITAL, FAMILY_DOCTOR, REGULATOR = "YG-YLY", "DG-RMYY", "DGGC-CHC", "WJW"
WIDE, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


@pytest.fixture
def city(tmp_path: Path) -> Iterator[tuple[Hub, dict[str, str]]]:
    """A hub on a hand clock with 张秀英: admitted once at DGSY (diagnosis, allergy, son as
    contact), staying at the care home (bed, blood pressure) and contracted to a family doctor
    until 30 April. Answers the hub and each organisation's key."""
    clock = HandClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    hub = bootstrap(Settings(database_url=f"sqlite:///{tmp_path}/hub.db"), clock=clock)
    keys = {code: register(hub, code, role, (code,)) for code, role in (
        ("DGSY", "hospital"), (HOSPITAL, "hospital"), (CARE_HOME, "care_home"),
        (FAMILY_DOCTOR, "family_doctor"), (REGULATOR, "regulator"))}
    national = resident_id()
    hub.hl7.receive(adt(national_id=national, extra=EXTRA).encode(), "test")
    answer = hub.records.receive_file(csv_bytes([
        {"organisation": CARE_HOME, "record_id": "RZ-1", "record_type": "admission",
         "resident_id": national, "name": "张秀英", "occurred_at": "2025-06-01 09:00",
         "stay_id": "S1", "bed": "3-201", "care_level": "二级护理"},
        vital_signs("TZ-1", "2026-02-28 08:00", 156, 92, national=national,
                    organisation=CARE_HOME),
        contract("QY-1", "sign", national=national, start="2025-05-01", end="2026-04-30",
                 organisation=FAMILY_DOCTOR)]), "text/csv")
    assert answer.count("accepted") == 3, answer.as_dict()
    hub.projector.catch_up()
    yield hub, keys
    hub.close()


def page_as(browser: Browser, base: str, key: str, viewport: dict[str, int] = WIDE,
            purpose: str = "") -> Page:
    page = browser.new_page(viewport=viewport)  # type: ignore[arg-type]
    page.set_default_timeout(10_000)
    log_in(page, base, key, purpose)
    return page


def test_care_home_refers_hospital_returns_and_the_regulator_sees_it_all(
        city: tuple[Hub, dict[str, str]], browser: Browser) -> None:
    hub, keys = city
    with running_server(hub) as base:
        # The care home finds 张秀英 among its residents and opens a 转诊单 for her.
        home = page_as(browser, base, keys[CARE_HOME])  # a care home starts at its residents
        assert "张秀英" in home.locator("#residents").inner_text()
        shot(home, "10-care-home-residents")
        home.click("#residents >> text=申请转诊")
        # The form comes filled from the handover packet the hub will send.
        assert home.input_value("input[name=diagnosis]") == "高血压"
        packet = home.locator("#packet").inner_text()
        for expected in ("青霉素", "皮疹", "156/92", "李明", "二级护理"):
            assert expected in packet, expected
        home.fill("textarea[name=reason]", "血压控制不满意，头晕加重")
        home.select_option("select[name=to_organisation]", HOSPITAL)
        home.select_option("select[name=urgency]", "urgent")
        home.fill("input[name=department]", "心血管内科")
        home.fill("textarea[name=tests_done]", "血常规\n心电图")
        shot(home, "11-care-home-referral-form")
        home.click("#refer button[type=submit]")
        assert home.locator("#status").inner_text() == "申请"
        number = home.locator("h1").inner_text().split()[1]

        # The hospital's desk: incoming worklist, accept with a bed, arrive, complete, return.
        desk = page_as(browser, base, keys[HOSPITAL])
        desk.click("header >> text=转诊")
        assert number in desk.locator("#incoming").inner_text()
        shot(desk, "12-hospital-incoming-worklist")
        desk.click(f"#incoming >> text={number}")
        assert "青霉素" in desk.locator("body").inner_text()
        shot(desk, "13-hospital-referral-to-accept")
        desk.fill("#accept input[name=receiving_doctor]", "陈医生")
        desk.fill("#accept input[name=bed]", "心内科 12床")
        desk.click("#accept button")
        assert desk.locator("#status").inner_text() == "已接收"
        desk.fill("#arrive input[name=visit_number]", "ZY-88")
        desk.click("#arrive button")
        assert desk.locator("#status").inner_text() == "已到院"
        desk.fill("#complete textarea[name=treatment_result]", "血压控制平稳")
        desk.click("#complete button")
        assert desk.locator("#status").inner_text() == "诊疗结束"
        desk.fill("#return textarea[name=discharge_summary]",
                  "入院后予降压治疗，血压降至 132/80 mmHg，头晕缓解，准予出院。")
        desk.fill("#return textarea[name=rehabilitation_advice]", "低盐饮食，每日测血压两次")
        desk.fill("#return textarea[name=medications]", "氨氯地平片 5mg 每日一次")
        desk.fill("#return input[name=attending_doctor]", "陈医生")
        shot(desk, "14-hospital-return-form")
        desk.click("#return button")
        assert desk.locator("#status").inner_text() == "下转待接收"

        # Back at the care home: the return is in its list; it reads the discharge summary.
        home.click("header >> text=转诊")
        assert f"{number}-R" in home.locator("#incoming").inner_text()
        shot(home, "15-care-home-referrals")
        home.click(f"#incoming >> text={number}-R")
        assert "准予出院" in home.locator("#discharge-summary").inner_text()
        assert home.locator("#rehabilitation").inner_text() == "低盐饮食，每日测血压两次"
        assert "氨氯地平片" in home.locator("#discharge-medications").inner_text()
        assert home.locator("#treatment-result").inner_text() == "血压控制平稳"
        shot(home, "16-care-home-discharge-summary")
        phone = page_as(browser, base, keys[CARE_HOME], PHONE)
        phone.goto(home.url)
        assert "准予出院" in phone.locator("#discharge-summary").inner_text()
        assert scroll_width(phone) <= 390, "the return scrolls sideways on a phone"
        shot(phone, "17-care-home-discharge-summary-phone")
        phone.goto(f"{base}/ui/referrals")
        assert scroll_width(phone) <= 390, "the worklists scroll sideways on a phone"
        shot(phone, "17-care-home-referrals-phone")
        home.click("#receive button")
        assert home.locator("#status").inner_text() == "下转已接收"

        # The regulator: the referral in the statistics, the page views in the audit log.
        regulator = page_as(browser, base, keys[REGULATOR], purpose="双向转诊专项检查")
        regulator.click("header >> text=统计")
        referrals = regulator.locator("#indicator-referrals")
        assert referrals.locator(".value").inner_text() == "2"  # one up, one back down
        assert "上转" in referrals.inner_text() and "下转" in referrals.inner_text()
        assert referrals.locator("svg rect").count() >= 2
        shot(regulator, "18-regulator-statistics")
        regulator.click("header >> text=查阅审计")
        rows = regulator.locator("#audit tr").all_inner_texts()
        views = {(organisation, page_view) for row in rows
                 for organisation in (CARE_HOME, HOSPITAL)
                 for page_view in ("page: residents", "page: referral worklist",
                                   "page: /ui/referrals/", "(handover packet)")
                 if organisation in row and page_view in row}
        assert views == {(CARE_HOME, "page: residents"), (CARE_HOME, "(handover packet)"),
                         (CARE_HOME, "page: referral worklist"),
                         (CARE_HOME, "page: /ui/referrals/"),
                         (HOSPITAL, "page: referral worklist"),
                         (HOSPITAL, "page: /ui/referrals/")}
        shot(regulator, "19-regulator-audit-of-page-views")
        phone_regulator = page_as(browser, base, keys[REGULATOR], PHONE,
                                  purpose="双向转诊专项检查")
        phone_regulator.goto(f"{base}/ui/stats")
        assert scroll_width(phone_regulator) <= 390, "statistics scroll sideways on a phone"
        shot(phone_regulator, "20-regulator-statistics-phone")


def test_family_doctor_sees_the_contract_and_those_ending_within_90_days(
        city: tuple[Hub, dict[str, str]], browser: Browser) -> None:
    hub, keys = city
    with running_server(hub) as base:
        doctor = page_as(browser, base, keys[FAMILY_DOCTOR])
        doctor.click("header >> text=90天内到期的签约")
        row = doctor.locator("#expiring").inner_text()
        assert "张秀英" in row and "2026-04-30" in row and "59" in row
        shot(doctor, "21-family-doctor-expiring-contracts")
        doctor.click("#expiring >> text=张秀英")
        status = doctor.locator("#contract").inner_text()
        assert "莞城家庭医生一队 2025-05-01至2026-04-30" in status and "有效" in status
        shot(doctor, "22-family-doctor-elder-contract")
        hub.projector.wait_for(hub.app.recorder.max_notification_id() or 0)
        audit = hub.read_model.audit(organisation=FAMILY_DOCTOR)
        assert {row["what"] for row in audit} >= {"page: expiring contracts"}


def test_hospital_refuses_with_a_reason_and_the_care_home_reads_it_in_either_language(
        city: tuple[Hub, dict[str, str]], browser: Browser) -> None:
    hub, keys = city
    with running_server(hub) as base:
        home = page_as(browser, base, keys[CARE_HOME])
        home.goto(f"{base}/ui/residents")
        home.click("#residents >> text=申请转诊")
        home.fill("textarea[name=reason]", "反复跌倒，需骨科评估")
        home.select_option("select[name=to_organisation]", HOSPITAL)
        home.click("#refer button[type=submit]")
        referral_url = home.url

        desk = page_as(browser, base, keys[HOSPITAL])
        desk.goto(referral_url)
        desk.fill("#refuse textarea[name=reason]", "本院骨科床位已满")
        desk.click("#refuse button")
        assert desk.locator("#status").inner_text() == "不接收"
        # No accept form is offered now, and a stale one sent anyway meets the desk's rule.
        assert desk.locator("#accept").count() == 0
        stale = desk.request.post(f"{referral_url}/accept", form={"bed": "骨科 3床"})
        assert "cannot accept a referral that is refused" in stale.text()

        home.goto(referral_url)
        assert "本院骨科床位已满" in home.locator("body").inner_text()
        home.goto(referral_url + "?lang=en")
        assert home.locator("#status").inner_text() == "refused"
        assert "Reason for refusing" in home.locator("body").inner_text()
        shot(home, "23-care-home-refused-referral-en")

        # Nobody else reads it: a family doctor is told so on a page, not in JSON.
        outsider = page_as(browser, base, keys[FAMILY_DOCTOR])
        answer = outsider.goto(referral_url)
        assert answer is not None and answer.status == 403
        assert outsider.locator("h1").inner_text() == "403 · 无权访问"


def test_the_hospital_desk_sees_overdue_referrals_first(
        city: tuple[Hub, dict[str, str]], browser: Browser) -> None:
    hub, keys = city
    elder = hub.read_model.find_by_name("张秀英")[0]["id"]
    packet = handover_packet(hub.read_model.profile(elder) or {}, hub.clock.now())
    for number, urgency in (("ZZ-ROUTINE", "routine"), ("ZZ-URGENT", "urgent")):
        hub.referrals.desk.request(UUID(elder), CARE_HOME, ReferralForm(
            number=number, reason="头晕", urgency=urgency, to_organisation=HOSPITAL), packet)
    clock: HandClock = hub.clock  # type: ignore[assignment]
    clock.advance(hours=3)  # the urgent one had 2 hours to be accepted
    hub.referrals.run_deadlines(hub.projector.catch_up)
    hub.projector.catch_up()
    with running_server(hub) as base:
        desk = page_as(browser, base, keys[HOSPITAL])
        desk.goto(f"{base}/ui/referrals")
        rows = desk.locator("#incoming tr").all_inner_texts()[1:]
        assert [r.split()[0] for r in rows] == ["ZZ-URGENT", "ZZ-ROUTINE"]
        assert "已超时" in rows[0] and "已超时" not in rows[1]
        shot(desk, "24-hospital-overdue-first")
