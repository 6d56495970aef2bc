"""Galactic: federated training of the fusion model across observatories with Flower (phase 4).

`config.py` (observatories, strategy, faults), `observatories.py` (who observes which planets,
with which instrument), `data.py` (shards of frozen-encoder features, one file per site),
`model.py` (fusion's trunk, the local update, held-out metrics), `apps.py` (the Flower
ClientApp and ServerApp), `inprocess.py` (a grid that runs them in this process),
`federation.py` (phase 4 top to bottom), `report.py` (plots), `loop.py` (its own loop, for the runner).
"""

from __future__ import annotations

from ...config.spec import ComponentSpec
from .config import GalacticConfig

SPEC = ComponentSpec(
    name="galactic",
    task="federated training of the fusion model across K observatories (non-IID host stars and instruments) with Flower",
    config=GalacticConfig,
    phase="galactic",
    loop="loop:train",
    loop_resumes=True,
    check="loop:check",
    preflight="loop:check_environment",
    science_metrics=("score", "accuracy", "biosphere_roc_auc", "habitable_fraction_mae"),
    consumes={"fusion": "integrate"},
    produces=("federated fusion weights", "per-round metrics"),
)
