"""`yyhub demo` on a fresh folder with no configuration shows an elder's profile and timeline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_demo(cwd: Path, **env: str) -> str:
    result = subprocess.run([sys.executable, "-m", "adapters.cli", "demo"], cwd=cwd,
                            env={**os.environ, "COLUMNS": "200", **env},
                            capture_output=True, text=True, timeout=300, check=True)
    return result.stdout


def test_demo_runs_on_the_embedded_default(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YYHUB_")}
    result = subprocess.run([sys.executable, "-m", "adapters.cli", "demo"], cwd=tmp_path,
                            env={**env, "COLUMNS": "200"}, capture_output=True, text=True,
                            timeout=300, check=True)
    out = result.stdout
    assert "Profile of 张秀英" in out
    assert "诊断: 脑梗死 (I63.9)" in out
    assert "PID[1]-3 PID-3 holds no patient identifier" in out
    assert (tmp_path / "yyhub-data" / "hub.db").exists()
    assert "duplicate" in out
    # The synthetic city: her timeline interleaves family-doctor and care-home facts.
    assert "家庭医生签约: 莞城家庭医生一队" in out and "family_doctor:demo" in out
    assert "入住: DGYL-01" in out and "能力评估 (GB/T 42195-2022)" in out


@pytest.mark.postgres
def test_demo_runs_on_postgresql(tmp_path: Path) -> None:
    from tests.conftest import PG_SERVER, drop_postgres_database

    name = f"yyhub_demo_{os.getpid()}"
    try:
        out = run_demo(tmp_path, YYHUB_DATABASE_URL=f"{PG_SERVER}/{name}")
        assert "Profile of 张秀英" in out
    finally:
        drop_postgres_database(name)
