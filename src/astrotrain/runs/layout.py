"""The run directory (DESIGN.md, "Run directory"): created whole or not at all."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

from ..config.schema import PHASE_NAMES
from ..errors import UserError

CONFIG_FILE = "config.yaml"
OVERRIDES_FILE = "overrides.yaml"
PROVENANCE_FILE = "provenance.json"
METRICS_FILE = "metrics.json"
NORMALISATION_FILE = "normalisation.json"


def check_writable(parent: Path) -> None:
    """Fail early, before anything is written, if run directories cannot be created under `parent`."""
    probe_root = parent
    while not probe_root.exists():
        probe_root = probe_root.parent
    if not probe_root.is_dir():
        raise UserError(f"run.output_dir {parent}: {probe_root} exists and is not a directory; choose another with run.output_dir=PATH")
    if not os.access(probe_root, os.W_OK | os.X_OK):
        raise UserError(f"run.output_dir {parent} is not writable (checked {probe_root}); choose another with run.output_dir=PATH")


def new_run_dir(output_dir: str | Path, name: str) -> Path:
    """Create `<output_dir>/<YYYYmmdd-HHMMSS>-<name>` (with a numeric suffix if taken)."""
    parent = Path(output_dir)
    check_writable(parent)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1000):
            candidate = parent / (f"{stamp}-{name}" if attempt == 0 else f"{stamp}-{name}-{attempt}")
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                continue
    except OSError as exc:
        raise UserError(f"cannot create a run directory under {parent}: {exc.strerror}; choose another with run.output_dir=PATH") from None
    raise UserError(f"too many runs named {stamp}-{name} under {parent}")


def remove_run_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def dump_yaml(obj) -> str:
    import yaml

    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)


PHASES_DIR = "phases"  # phases/<n>-<name>/ of a --mode full run
PRETRAIN_PHASE = "1-pretrain"  # its phase-1 folder: one component run directory per component
PIPELINE_FILE = "pipeline.json"  # status of each phase of a --mode full run
REPORT_FILE = "report.html"  # what a person looks at first

PHASE_DIRS = {name: f"{i}-{name}" for i, name in enumerate(PHASE_NAMES, start=1)}


def is_pipeline_run(path: str | Path) -> bool:
    return (Path(path) / PIPELINE_FILE).is_file()


def phase_run_dir(root: Path, phase: str, component: str) -> Path:
    """phases/1-pretrain/<component>/ for phase 1; the phase folder itself for a one-component phase."""
    folder = root / PHASES_DIR / PHASE_DIRS[phase]
    return folder / component if phase == "pretrain" else folder
