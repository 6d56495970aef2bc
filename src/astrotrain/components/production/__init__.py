"""Production (phase 5): ONNX export with parity, int8, a distilled fast surrogate, latency benchmark, model card, `predict`."""

from __future__ import annotations

from ...config.spec import ComponentSpec
from .config import ProductionConfig

SPEC = ComponentSpec(
    name="production",
    task="ships phases 1-2: ONNX export with parity, int8, a distilled fast surrogate, latency vs CLERO, model card, predict on real catalogs",
    config=ProductionConfig,
    phase="production",
    loop="loop:train",
    check="loop:check",
    preflight="loop:check_environment",
    science_metrics=("fast_surrogate_onnx_surface_temperature_rmse_K", "surrogate_onnx_surface_temperature_rmse_K", "fusion_onnx_accuracy"),
    consumes={"source": "integrate"},
    produces=("ONNX and int8 exports", "MODEL_CARD.md", "predictions"),
    uses_universe=False,  # it reads the source run's universe itself
)
