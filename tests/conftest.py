"""Shared fixtures: the repository root, a CLI runner in a fresh process, a cached smoke universe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "config" / "presets" / "smoke.yaml"


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory) -> Path:
    """One universe cache for the whole session (the smoke universe takes ~1 s to generate)."""
    return tmp_path_factory.mktemp("universe-cache")


def cli_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("ASTROTRAIN_RUN_DIR", None)
    env.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    return env


def run_cli(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python train.py ARGS` in a new process, from `cwd`."""
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=timeout
    )


def smoke_args(tmp_path: Path, data_cache: Path, *extra: str) -> list[str]:
    """Arguments training the smoke preset into `tmp_path/runs` with the shared universe cache."""
    return ["--config", str(SMOKE), f"run.output_dir={tmp_path / 'runs'}", f"data.universe.cache_dir={data_cache}", *extra]
