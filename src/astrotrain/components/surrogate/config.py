"""Settings of the surrogate component (`components.surrogate` in the master config)."""

from __future__ import annotations

from pydantic import Field

from ...config.base import AttentionShape, component_section


class SurrogateConfig(
    AttentionShape,
    component_section("Surrogate", unit="planets", batch_size=64, lr=0.002, weight_decay=0.0001, warmup_steps=200, min_lr_ratio=0.01)
):
    d_model: int = Field(64, ge=8, le=4096, description="token width")
    n_heads: int = Field(4, ge=1, le=64, description="attention heads")
    n_layers: int = Field(2, ge=1, le=48, description="transformer layers")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout in the transformer")
    n_fourier: int = Field(0, ge=0, le=256, description="Fourier features per parameter value")
    n_components: int = Field(48, ge=1, le=2048, description="PCA components per output map (basis fit on the train split)")
    field_loss_weight: float = Field(1000.0, gt=0, description="weight of the maps' relative squared error (PCA coefficients)")
    state_loss_weight: float = Field(2.0, ge=0, description="weight of the climate-state cross-entropy")
    habitable_loss_weight: float = Field(20.0, ge=0, description="weight of the habitable-fraction loss")
    nll_loss_weight: float = Field(0.1, ge=0, description="weight of the Gaussian NLL training the uncertainty head")
    mlp_baseline_epochs: int = Field(100, ge=0, description="epochs of the plain-MLP reference trained after the run (0 = skip)")
    datacubes: list[str] = Field([], description="ingested GCM runs (astrotrain data ingest --parameters) to learn parameters → maps from; empty = the universe")
    energy_balance_weight: float = Field(1.0, ge=0, description="soft constraint weight (with physics.constraints)")
    energy_balance_tolerance: float = Field(2.0, ge=0, description="W/m^2 of |<ASR> - <OLR>| allowed free (CLERO itself has ~1-2)")
