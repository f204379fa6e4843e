"""People use the hub through pages in Chromium: a hospital reads its elder, a regulator sees
that read in the audit log; pages work at 1280 px and on a phone."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from adapters.bootstrap import Hub
from tests.api import register
from tests.e2e.browser import CHROMIUM, log_in, running_server, scroll_width, shot
from tests.messages import adt, resident_id

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="needs Debian's chromium (.ci/run installs it)")

DG1 = "DG1|1||I63.9^脑梗死^I10|脑梗死||A"
AL1 = "AL1|1|DA|PEN^青霉素^L|SV|皮疹"


def test_hospital_reads_its_elder_and_the_regulator_sees_the_read(
        sqlite_hub: Hub, browser: Browser) -> None:
    hub = sqlite_hub
    hospital = register(hub, "DGSY", "hospital", ("DGSY",))
    regulator = register(hub, "WJW", "regulator")
    national = resident_id()
    hub.hl7.receive(adt(national_id=national, extra=(DG1, AL1)).encode(), "test")
    hub.projector.catch_up()

    with running_server(hub) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        log_in(page, base, hospital)
        page.fill("input[name=q]", national)
        page.click("button[type=submit]")
        page.click("text=张秀英")
        assert page.locator("h1").first.inner_text() == "张秀英"
        assert "诊断: 脑梗死 (I63.9)" in page.locator("#timeline").inner_text()
        assert "暂无数据" in page.inner_text("body") and "<p" not in page.inner_text("body")
        shot(page, "01-hospital-elder-profile-1280")

        phone = browser.new_page(viewport={"width": 390, "height": 844})
        log_in(phone, base, hospital)
        phone.goto(page.url)
        assert phone.locator("h1").first.inner_text() == "张秀英"
        width = scroll_width(phone)
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
        shot(phone, "02-hospital-elder-profile-phone")

        english = browser.new_page(viewport={"width": 1280, "height": 900})
        log_in(english, base, hospital)
        english.goto(page.url + "?lang=en")
        assert "Timeline" in english.content()

        reg = browser.new_page(viewport={"width": 1280, "height": 900})
        log_in(reg, base, regulator, purpose="年度医养结合监督检查")
        assert "/ui/audit" in reg.url
        audit = reg.locator("#audit").inner_text()
        assert "DGSY" in audit and "page: /ui/elders/" in audit
        assert reg.locator("#seal").inner_text() == "完好"
        shot(reg, "03-regulator-audit")
        reg.click("#audit a >> nth=0")
        assert "张秀英" in reg.content()
        shot(reg, "04-regulator-as-of")


def test_pages_need_a_login(sqlite_hub: Hub, browser: Browser) -> None:
    with running_server(sqlite_hub) as base:
        page = browser.new_page()
        page.goto(f"{base}/ui/elders")
        assert page.url.endswith("/ui/login")
        log_in(page, base, "yyk_not-a-key")
        assert "密钥无效" in page.content()
