"""Settings of the evolution component (`components.evolution` in the master config)."""

from __future__ import annotations

from pydantic import Field

from ...config.base import AttentionShape, component_section


class EvolutionConfig(
    AttentionShape,
    component_section("Evolution", unit="trajectories", max_epochs=300, batch_size=64, lr=0.002, weight_decay=0.0001, warmup_steps=200, min_lr_ratio=0.01)
):
    start_steps: int = Field(1, ge=1, le=80, description="given start of each trajectory (time-grid points, 50 Myr apart; 1 = the initial state only)")
    patch_steps: int = Field(30, ge=1, le=90, description="future time steps decoded per transformer token (PatchTST-style)")
    d_model: int = Field(16, ge=8, le=4096, description="token width")
    n_heads: int = Field(2, ge=1, le=64, description="attention heads")
    n_layers: int = Field(1, ge=1, le=48, description="transformer layers")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout in the transformer")
    speed_trajectories: int = Field(200, ge=0, description="test trajectories re-integrated with solve_ivp to time the ODE (0 = skip)")
