"""Limits on what a sender can make the hub parse: JSON nesting depth, checked before parsing.

Python's json module recurses once per level, so a body of 100,000 '[' raises RecursionError (or
worse, deep pydantic validation); no real record or FHIR resource nests beyond a few dozen levels.
"""

from __future__ import annotations

import re
from itertools import accumulate

MAX_JSON_DEPTH = 64
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_QUOTES_OR_BRACKETS = bytes(b for b in range(256) if b not in b'"[]{}')
# Opening brackets become 1 and closing ones -1 (as signed bytes), so depth is a running sum.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def json_depth_exceeds(data: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when brackets outside strings nest deeper than `limit`.

    Cheap for large bodies: strings are cut out (by splitting at quotes when no quote is
    escaped, else by one regex pass) and everything but brackets by `bytes.translate`, and the
    brackets' running depth is summed in C. `tests/unit/test_json_depth_limit.py` proves it
    equal to walking the parsed JSON."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # too few brackets to nest that deep (most bodies stop here)
    if b'\\"' not in raw:
        # Every quote opens or closes a string: the even pieces are outside (a string that
        # never ends is the last odd piece, and is left out with the rest of it). Only quotes
        # and brackets are kept first, so most pieces are empty or one byte (shared objects).
        skeleton = raw.translate(None, _NOT_QUOTES_OR_BRACKETS)
        outside = b"".join(skeleton.split(b'"')[::2])
    else:
        outside = _STRING.sub(b"", raw)
        unterminated = outside.find(b'"')
        if unterminated != -1:
            outside = outside[:unterminated]  # the rest is inside a string that never ends
    steps = memoryview(outside.translate(_STEPS, _NOT_BRACKETS)).cast("b")
    return max(accumulate(steps), default=0) > limit


def too_deep_message(limit: int = MAX_JSON_DEPTH) -> str:
    return f"JSON nests deeper than {limit} levels; no record or resource needs that"
