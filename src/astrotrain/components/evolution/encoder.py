"""What the evolution emulator lends to fusion: its trunk reads the planet's carbon-cycle history.

The evolution modality is the planet's box-model drivers and initial state, the emulator's own
inputs; the embedding is the mean of its token states (drivers, start and one per future
patch), i.e. the emulator's internal picture of the 4.5-Gyr trajectory. Planets whose
integration failed in the universe have no evolution modality (`available` is false).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...runs.checkpoints import submodule_state
from .data import FEATURES, driver_features, trajectory_features
from .model import EvolutionTransformer

MODALITY = "evolution"


class EvolutionEncoder(nn.Module):
    def __init__(self, model: EvolutionTransformer, stats: dict[str, torch.Tensor], start_steps: int):
        super().__init__()
        self.pretrained = model
        self.start_steps = start_steps
        for name in ("feature_mean", "feature_std", "driver_mean", "driver_std"):
            self.register_buffer(name, stats[name].clone())
        self.dim = model.norm.normalized_shape[0]

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        start = (batch["evolution.start"][:, : self.start_steps] - self.feature_mean) / self.feature_std
        drivers = (batch["evolution.drivers"] - self.driver_mean) / self.driver_std
        return self.pretrained.hidden(drivers, start).mean(dim=1)


def modality_inputs(cfg, universe, upstream=None) -> dict[str, np.ndarray]:
    evolution = universe.evolution()
    ok = evolution["ok"].astype(bool)
    start = trajectory_features(evolution)[:, : cfg.components.evolution.start_steps]
    drivers = driver_features(evolution)
    return {
        "evolution.start": np.where(ok[:, None, None], np.nan_to_num(start), 0.0),
        "evolution.drivers": np.where(ok[:, None], np.nan_to_num(drivers), 0.0),
        "available": ok,
    }


def lend(cfg, state: dict[str, torch.Tensor], normalisation: dict) -> EvolutionEncoder:
    ec = cfg.components.evolution
    n_times = state["future_time_gyr"].shape[0] + ec.start_steps
    n_outputs = state["model.head.weight"].shape[0] // ec.patch_steps
    model = EvolutionTransformer(n_drivers=state["driver_mean"].shape[0], n_features=len(FEATURES), n_outputs=n_outputs,
                                 start_steps=ec.start_steps, future_steps=n_times - ec.start_steps, patch_steps=ec.patch_steps,
                                 d_model=ec.d_model, n_heads=ec.n_heads, n_layers=ec.n_layers, dropout=ec.dropout)
    model.load_state_dict(submodule_state(state, "model."))
    return EvolutionEncoder(model, state, ec.start_steps)
