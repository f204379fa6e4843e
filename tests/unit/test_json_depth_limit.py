"""The nesting check that runs before any JSON is parsed agrees with the depth of what parses."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mappings.limits import json_depth_exceeds

LEAVES = st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab张 ', max_size=6)
DOCUMENTS = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=4), inner,
                                           max_size=3), max_leaves=40)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@given(DOCUMENTS, st.integers(min_value=0, max_value=8))
def test_the_limit_is_crossed_exactly_when_the_document_nests_deeper(document: Any,
                                                                     limit: int) -> None:
    body = json.dumps(document, ensure_ascii=False).encode()
    assert json_depth_exceeds(body, limit) == (depth(document) > limit)


def test_a_hundred_thousand_brackets_are_refused_and_brackets_in_strings_are_not_counted() -> None:
    assert json_depth_exceeds(b"[" * 100_000)
    quoted = json.dumps({"note": "[" * 500, "items": [[1]]}).encode()
    assert not json_depth_exceeds(quoted, 3)
    assert json_depth_exceeds(b'"ok", ' + b"{" * 70 + b' "never closed [[[', 64)
