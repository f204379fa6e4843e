"""The ER7 reader reads what hospitals actually send."""

from __future__ import annotations

import pytest

from mappings.errors import UnreadableMessage
from mappings.hl7v2 import er7
from tests.messages import adt


def test_reads_fields_components_and_repetitions() -> None:
    message = er7.parse(adt(national_id="442527194603150024"))
    pid = message.first("PID")
    assert message.get(pid, 5, 1) == "张"
    assert message.get(pid, 5, 2) == "秀英"
    assert message.get(pid, 3, 1, repetition=1) == "MR001"
    assert message.get(message.first("MSH"), 9, 2) == "A01"
    assert message.get(message.first("MSH"), 2) == "^~\\&"


@pytest.mark.parametrize("separator", ["\r", "\n", "\r\n"])
def test_accepts_cr_lf_and_crlf_between_segments(separator: str) -> None:
    message = er7.parse(adt(separator=separator))
    assert [s.id for s in message.segments] == ["MSH", "EVN", "PID"]


def test_byte_order_mark_is_ignored() -> None:
    message, _ = er7.read(b"\xef\xbb\xbf" + adt().encode())
    assert message.segments[0].id == "MSH"


def test_escape_sequences_are_unescaped() -> None:
    message = er7.parse("MSH|^~\\&|A|B\rNTE|1||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\.br\\g\\X6566\\h\\Xzz\\")
    assert message.get(message.first("NTE"), 3) == "a|b^c&d~e\\f\ngefh\\Xzz\\"


def test_gb18030_is_read_when_msh18_says_so() -> None:
    raw = adt(charset="GB 18030-2000", family="欧阳", given="娜娜").encode("gb18030")
    message, warnings = er7.read(raw)
    assert message.get(message.first("PID"), 5, 1) == "欧阳"
    assert warnings == ()


def test_gb18030_without_msh18_is_read_with_a_warning() -> None:
    raw = adt(charset="", given="桂兰").encode("gb18030")
    message, warnings = er7.read(raw)
    assert message.get(message.first("PID"), 5, 2) == "桂兰"
    assert warnings[0].code == "charset-guessed"


@pytest.mark.parametrize("text", ["MSH|^&&^|A", "MSH|^~|A", "MSH|^~\\&#$|A", "PID|1", "MSH|"])
def test_bad_encoding_characters_are_unreadable(text: str) -> None:
    with pytest.raises(UnreadableMessage):
        er7.parse(text)
