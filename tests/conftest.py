"""Shared fixtures: the repository root, a CLI runner in a fresh process, a cached smoke universe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "config" / "presets" / "smoke.yaml"
NASA_SNAPSHOT = ROOT.parent / "shared" / "data" / "nasa_exoplanet_archive" / "PSCompPars_2024-10-15.csv"
needs_nasa_snapshot = pytest.mark.skipif(not NASA_SNAPSHOT.is_file(),
                                         reason=f"the archive snapshot {NASA_SNAPSHOT} is not here (a user's clone has no ../shared)")


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


def run_astrotrain(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """`astrotrain ARGS` (the console script's subcommands: data, evaluate, explain) in a new process."""
    return subprocess.run([sys.executable, "-m", "astrotrain", *args], cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=timeout)


def smoke_args(tmp_path: Path, data_cache: Path, *extra: str) -> list[str]:
    """Arguments training the smoke preset into `tmp_path/runs` with the shared universe cache."""
    return ["--config", str(SMOKE), f"run.output_dir={tmp_path / 'runs'}", f"data.universe.cache_dir={data_cache}", *extra]


def pipeline_args(tmp_path: Path, data_cache: Path, *extra: str) -> list[str]:
    """`--mode full` on the smoke preset, with the shared universe and molecule caches."""
    return smoke_args(tmp_path, data_cache, "--mode", "full", f"components.graph_vae.cache_dir={data_cache}/molecules", *extra)


def report_path(stdout: str) -> Path:
    import re

    match = re.search(r"^report: (.+)$", stdout, re.MULTILINE)
    assert match, stdout[-2000:]
    return Path(match.group(1))


@pytest.fixture(scope="session")
def smoke_pipeline(tmp_path_factory, data_cache) -> Path:
    """One uninterrupted smoke pipeline for the session; returns its run directory."""
    tmp = tmp_path_factory.mktemp("pipeline")
    res = run_cli(pipeline_args(tmp, data_cache), cwd=tmp, timeout=1200)
    assert res.returncode == 0, res.stderr[-4000:]
    return report_path(res.stdout).parent


def pytest_configure(config):
    """Under pytest-xdist, one BLAS/OpenMP thread per process (inherited by the CLI subprocesses): the workers
    share the cores instead of oversubscribing them."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(variable, "1")


def pytest_collection_modifyitems(config, items):
    """Groups for `pytest -n N --dist loadgroup` (make test): a test file stays on one worker (its
    module fixtures are built once), and every file using the session's smoke pipeline shares one
    worker, so the pipeline runs once; the files spread over the workers."""
    users = {item.path for item in items if "smoke_pipeline" in getattr(item, "fixturenames", ())}
    for item in items:
        group = "smoke_pipeline" if item.path in users else str(item.path.relative_to(ROOT))
        item.add_marker(pytest.mark.xdist_group(group))
