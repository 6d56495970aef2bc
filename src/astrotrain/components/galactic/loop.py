"""The galactic component's entry for the runner: its own loop (Flower), not a LightningModule.

`train(cfg, universe, run_dir)` runs phase 4 (`federation.run_federation`), writes the per-round
table and the plots, and returns the metrics the runner records in metrics.json.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from ...errors import UserError
from ...runs.run import open_run
from .apps import RESULT_FILE
from .federation import run_federation, write_round_table
from .report import plot_rounds


def check(cfg) -> None:
    """What the federation refuses before anything is written."""
    gc = cfg.components.galactic
    if gc.fusion is None:
        raise UserError("components.galactic.fusion is not set: the observatories train fusion's model on the encoders of its phase 1 — "
                        "run `python train.py --mode full`, or set components.galactic.fusion=<run directory of a --mode full run with a finished phase 2>")

    open_run(Path(gc.fusion)).fusion_config()
    check_environment(cfg)


def check_environment(cfg) -> None:
    """What this machine must have for the federation (checked by the pipeline before phase 1, too)."""
    gc = cfg.components.galactic
    if gc.backend == "ray" and importlib.util.find_spec("ray") is None:
        raise UserError("components.galactic.backend=ray needs Flower's simulation engine (Ray): pip install 'astrotrain[federated]', "
                        "or use components.galactic.backend=inprocess")
    cores = len(os.sched_getaffinity(0))
    if gc.backend == "ray" and gc.client_cpus > (gc.simulation_cpus or cores):
        raise UserError(f"components.galactic.client_cpus={gc.client_cpus} exceeds the {gc.simulation_cpus or cores} cores the simulation "
                        "may use: no observatory could start; lower it or raise components.galactic.simulation_cpus")


def train(cfg, universe, run_dir: Path, resume: Path | None = None, manifest: dict | None = None) -> dict:
    metrics = run_federation(cfg, universe, run_dir, resume, manifest)
    result = json.loads((run_dir / RESULT_FILE).read_text())
    write_round_table(run_dir, metrics, result, [o.name for o in cfg.components.galactic.observatories])
    plot_rounds(run_dir, metrics, json.loads((run_dir / "rounds.json").read_text()))
    return metrics
