"""The import direction of ARCHITECTURE.md: hub imports nothing from the edges."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    "hub": {"hub"},
    "mappings": {"hub", "mappings"},
    "event_store": {"hub", "event_store"},
    "adapters": {"hub", "mappings", "event_store", "adapters"},
}
FORBIDDEN_THIRD_PARTY = {
    "hub": {"fastapi", "sqlalchemy", "hl7apy", "fhir", "typer", "pydantic", "tenacity", "psycopg"},
    "mappings": {"fastapi", "sqlalchemy", "typer", "psycopg"},
    "event_store": {"fastapi", "typer", "hl7apy", "fhir"},
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_inward(package: str) -> None:
    ours = set(ALLOWED)
    offences = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imports(path):
            if name in ours and name not in ALLOWED[package]:
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
            if name in FORBIDDEN_THIRD_PARTY.get(package, set()):
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offences == []


def test_value_objects_are_immutable_so_copies_of_aggregates_may_share_them() -> None:
    """Copies of aggregates share value objects (`hub.values.value_type`): each must be a
    frozen dataclass whose fields hold no list, dict or set."""
    import dataclasses
    import typing

    import hub.facts  # noqa: F401  (registers the fact kinds)
    import hub.referrals  # noqa: F401
    from hub.values import VALUE_TYPES

    for cls in VALUE_TYPES.values():
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, cls  # type: ignore[attr-defined]
        for name, hint in typing.get_type_hints(cls).items():
            text = str(hint)
            assert not any(m in text for m in ("list[", "dict[", "set[", "List[", "Dict[")), \
                (cls.__name__, name, text)
