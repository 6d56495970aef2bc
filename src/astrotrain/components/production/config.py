"""Settings of the production phase (`components.production` in the master config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from ...config.base import Section

Backend = Literal["torch", "onnx", "onnx-int8"]


class ProductionConfig(Section):
    enabled: bool = Field(True, description="phase 5 of the full pipeline")
    source: str | None = Field(None, description="run directory of a --mode full run with finished phases 1 and 2 (the pipeline sets it)")
    surrogate: str | None = Field(None, description="a surrogate run to ship instead of the source's phase 1 surrogate (e.g. a longer standalone run)")
    opset: int = Field(18, ge=13, le=23, description="ONNX opset of the exports")
    parity_rtol: float = Field(1e-4, gt=0, le=0.1, description="ONNX Runtime vs PyTorch: max |Δ| allowed, relative to the output's max |value|")
    parity_atol: float = Field(1e-5, ge=0, le=0.1, description="… plus this absolute slack (outputs near zero, e.g. probabilities)")
    int8: bool = Field(True, description="dynamic int8 quantisation of the ONNX exports (onnxruntime.quantization)")
    int8_max_rmse_increase_K: float = Field(0.5, ge=0, description="int8 surrogate: surface-T RMSE may grow by at most this (K)")
    int8_max_accuracy_drop: float = Field(0.02, ge=0, le=1, description="int8 fusion: climate-state accuracy may drop by at most this")
    student_width: int = Field(128, ge=8, le=4096, description="hidden width of the distilled fast surrogate (MLP)")
    student_depth: int = Field(3, ge=1, le=8, description="hidden layers of the distilled fast surrogate")
    student_components: int = Field(32, ge=1, le=2048, description="leading PCA modes of surface T the fast surrogate predicts (≤ the surrogate's)")
    distill_planets: int = Field(200_000, ge=256, le=10_000_000, description="planets drawn from the universe's prior and labelled by the surrogate")
    distill_epochs: int = Field(40, ge=1, le=1000, description="epochs of distillation")
    distill_batch_size: int = Field(512, ge=1, le=65536, description="planets per distillation step")
    distill_lr: float = Field(3e-3, gt=0, le=1, description="peak AdamW learning rate (one-cycle schedule)")
    batch_sizes: list[PositiveInt] = Field([1, 16, 64, 256, 1024, 4096], min_length=1, description="batch sizes the throughput benchmark tries")
    latency_calls: int = Field(300, ge=10, le=100_000, description="batch-1 calls timed for the p50/p95 latency")
    throughput_seconds: float = Field(0.5, gt=0, le=60, description="seconds each (model, backend, batch size) is timed for")
    clero_planets: int = Field(256, ge=1, le=100_000, description="test planets CLERO predicts for the speed-up reference")
    atmosphere_draws: int = Field(16, ge=1, le=4096, description="predict: draws per planet of the unobserved P0, CO2, CH4 (the universe's prior, "
                                                                 "or the input's own) and of an M sin i's inclination")
    validity_planets: int = Field(64, ge=4, le=100_000, description="CLERO planets drawn in each band between the core and the extended domain "
                                                                  "to measure predict's error there (half calibrate σ, half evaluate)")
    max_extrapolated_habitable_mae: float = Field(0.10, ge=0, le=1, description="a band is predicted only where the measured habitable-fraction MAE is at most this")
    max_extrapolated_ts_error_K: float = Field(10.0, ge=0, description="… and the measured mean-surface-temperature error at most this (K)")
    catalog: str | None = Field(None, description="archive CSV the phase predicts at its end; null = the `astrotrain data fetch nasa` cache "
                                                  "when there is one, else no prediction")
    top_candidates: int = Field(6, ge=0, le=50, description="predict: surface-T maps drawn for this many top-ranked planets")

    @model_validator(mode="after")
    def _enough_planets(self):
        if self.distill_batch_size > self.distill_planets:
            raise ValueError(f"distill_batch_size={self.distill_batch_size} exceeds distill_planets={self.distill_planets}: not one step would run")
        return self
