"""Provenance of a run: code version, data hashes, package versions, seed, host."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

PACKAGES = ("astrotrain", "torch", "lightning", "torchdata", "pydantic", "clero", "numpy", "scipy", "pandas", "pyarrow", "xarray", "zarr")


def git_state(repo: Path | None = None) -> dict:
    """Commit sha and whether the work tree has uncommitted changes (None outside a checkout)."""
    repo = repo or Path(__file__).resolve().parents[3]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}
    return {"sha": sha, "dirty": bool(dirty.strip())}


def package_versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def collect_provenance(seed: int, data_manifests: dict[str, dict], command: list[str] | None = None) -> dict:
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else sys.argv,
        "git": git_state(),
        "seed": seed,
        "data": data_manifests,
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "host": {
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        },
    }
