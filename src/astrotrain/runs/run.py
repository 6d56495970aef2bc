"""A run directory as later phases, the API and the CLI read it: its phases, metrics, config, universe.

    run = open_run("runs/20261129-101500-demo")   # a --mode full run, or one component run
    run.phases                                     # {phase: status, reason, folder} (a pipeline run)
    run.metrics("integrate")                       # fusion's metrics.json; run.metrics("pretrain", "spectral")
    run.fusion_config()                            # fusion's config, its encoders pointed at this run
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..config.loader import read_yaml, validate
from ..errors import UserError
from ..universe.store import open_universe
from . import layout as rd


@dataclass
class RunDirectory:
    path: Path

    @property
    def phases(self) -> dict:
        status = self.path / rd.PIPELINE_FILE
        return json.loads(status.read_text())["phases"] if status.is_file() else {}

    @property
    def report(self) -> Path:
        return self.path / rd.REPORT_FILE

    def component_dir(self, phase: str, component: str | None = None) -> Path:
        """A phase's component run (the run itself for a component run)."""
        return rd.phase_run_dir(self.path, phase, component or "multimodal") if self.phases else self.path

    def finished(self, phase: str, component: str | None = None) -> bool:
        metrics = self.component_dir(phase, component) / rd.METRICS_FILE
        return metrics.is_file() and "test" in json.loads(metrics.read_text())

    def metrics(self, phase: str = "integrate", component: str | None = None) -> dict:
        path = self.component_dir(phase, component) / rd.METRICS_FILE
        if not path.is_file():
            raise UserError(f"{path} does not exist: that phase or component has not finished in run {self.path}")
        return json.loads(path.read_text())

    def universe(self):
        """The planet universe the run trained on (from its fusion run's provenance)."""
        provenance = json.loads((self.component_dir("integrate") / rd.PROVENANCE_FILE).read_text())
        return open_universe(provenance["data"]["universe"]["path"])

    def fusion_config(self):
        """The fusion run's config, its encoders pointed at this run's own phase 1 wherever the folder now lies."""
        path = self.component_dir("integrate") / rd.CONFIG_FILE
        cfg = validate(read_yaml(path), source=str(path))
        if self.phases and self.phases["pretrain"]["status"] == "finished":
            cfg.components.multimodal.pretrained = str(self.path)
        return cfg


def open_run(path: str | Path) -> RunDirectory:
    path = Path(path)
    if not (path / rd.CONFIG_FILE).is_file():
        raise UserError(f"{path} is not an astrotrain run directory (no {rd.CONFIG_FILE})")
    return RunDirectory(path)
