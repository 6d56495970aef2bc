"""Python access to a finished run, for notebooks and scripts.

    from astrotrain.api import load_run
    run = load_run("runs/20261129-101500-default")   # a --mode full run (or one component run)
    run.phases                                        # {phase: status, reason, folder}
    run.metrics("integrate")                          # fusion's metrics.json; run.metrics("pretrain", "spectral")
    (an unfinished run has no fusion model: fusion() says how to finish it)
    run.plots()                                       # every PNG the report shows
    model = run.fusion()                              # the trained fusion model, on CPU
    model.predict({"T_star": 3300, "F_star": 900, ...})  # a planet's catalog entry (+ any other observed modality)

Checkpoints are verified against their manifests and loaded weights-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .components.multimodal.load import FusionModel, load_fusion
from .report.html import referenced_images
from .runs.run import RunDirectory, open_run

__all__ = ["FinishedRun", "FusionModel", "load_run"]


@dataclass
class FinishedRun(RunDirectory):
    def plots(self) -> list[Path]:
        return referenced_images(self.report) if self.report.is_file() else []

    def fusion(self) -> FusionModel:
        return load_fusion(self)


def load_run(path: str | Path) -> FinishedRun:
    return FinishedRun(open_run(path).path)
