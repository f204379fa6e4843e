"""A deployment that holds hospitals to the HL7 standard refuses what hl7apy finds wrong.

By default the hub takes a result whose OBR-4 (universal service id, required by the standard)
is empty, since the facts are all there; with `YYHUB_HL7_STRICT_VALIDATION` the same message is
answered AE with an ERR naming OBR-4, kept as rejected, and can be reprocessed later.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.bootstrap import Hub, bootstrap
from adapters.settings import Settings
from hub.inbound import REJECTED
from tests.messages import resident_id

NATIONAL = resident_id(sequence="311")
RESULT = ("MSH|^~\\&|LIS|DGSY|YYHUB|HUB|20260310093000+0800||ORU^R01^ORU_R01|{id}|P|2.5\r"
          f"PID|1||{NATIONAL}^^^^NNCHN||钱^玉兰||19420202|F\r"
          "OBR|1||F31|{service}|||20260310080000+0800\r"
          "OBX|1|NM|2339-0^血糖^LN||6.1|mmol/L|3.9-6.1|N|||F|||20260310080000+0800\r")


@pytest.fixture
def strict_hub(tmp_path: Path) -> Hub:
    running = bootstrap(Settings(database_url=f"sqlite:///{tmp_path}/hub.db",
                                 hl7_strict_validation=True))
    yield running  # type: ignore[misc]
    running.close()


def test_by_default_a_result_without_its_service_code_is_taken(sqlite_hub: Hub) -> None:
    answer = sqlite_hub.hl7.receive(RESULT.format(id="S1", service="").encode(), "mllp")
    assert answer.ack_code == "AA"


def test_strictly_the_missing_service_code_is_refused_with_the_field_named(strict_hub: Hub
                                                                            ) -> None:
    answer = strict_hub.hl7.receive(RESULT.format(id="S2", service="").encode(), "mllp")

    assert answer.ack_code == "AE"
    err = next(line for line in answer.ack.split("\r") if line.startswith("ERR|"))
    assert err.split("|")[2] == "OBR^1^4"
    assert "101^Required field missing" in err
    assert answer.receipt.outcome == REJECTED
    assert strict_hub.app.raw_message(answer.receipt.message_id).startswith(b"MSH|")


def test_strictly_a_conforming_result_is_taken(strict_hub: Hub) -> None:
    answer = strict_hub.hl7.receive(
        RESULT.format(id="S3", service="GLU^血糖^L").encode(), "mllp")
    assert answer.ack_code == "AA"
    assert answer.receipt.fact_count == 2  # her name and birth date, and the glucose result
