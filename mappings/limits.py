"""Limits on what a sender can make the hub parse: JSON nesting depth, checked before parsing.

Python's json module recurses once per level, so a body of 100,000 '[' raises RecursionError (or
worse, deep pydantic validation); no real record or FHIR resource nests beyond a few dozen levels.
"""

from __future__ import annotations

import re

MAX_JSON_DEPTH = 64
_TOKENS = re.compile(rb'[\[\]{}"\\]')


def json_depth_exceeds(data: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when brackets outside strings nest deeper than `limit` (cheap: one regex pass)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # too few brackets to nest that deep (most bodies stop here)
    depth = 0
    in_string = escaped = False
    last_escape = -2
    for match in _TOKENS.finditer(raw):
        char, at = match.group(), match.start()
        if in_string:
            if char == b"\\":
                escaped = not (escaped and last_escape == at - 1)
                last_escape = at
            elif char == b'"':
                if escaped and last_escape == at - 1:
                    escaped = False
                else:
                    in_string = False
                    escaped = False
            continue
        if char == b'"':
            in_string, escaped = True, False
        elif char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif char in (b"]", b"}"):
            depth -= 1
    return False


def too_deep_message(limit: int = MAX_JSON_DEPTH) -> str:
    return f"JSON nests deeper than {limit} levels; no record or resource needs that"
