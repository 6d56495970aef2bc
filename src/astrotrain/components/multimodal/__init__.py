"""Multimodal fusion (phase 2, "integrate"): a transformer over the encoders the pretrained components lend."""

from __future__ import annotations

from ...config.spec import ComponentSpec
from .config import MultimodalConfig

SPEC = ComponentSpec(
    name="multimodal",
    task="fusion transformer over the pretrained encoders of the observed modalities → climate state, habitable fraction, P(biosphere), from any subset of modalities",
    config=MultimodalConfig,
    phase="integrate",
    datamodule="data:build_datamodule",
    module="module:build_module",
    report="report:report",
    preflight="pretrained:check_before_pipeline",
    science_metrics=("accuracy", "macro_f1", "ece", "biosphere_roc_auc", "habitable_fraction_mae", "score"),
    hpo_metric=("score", "maximize"),
    consumes={"pretrained": "pretrain"},
    produces=("fusion checkpoint", "leakage audit", "ablation"),
)
