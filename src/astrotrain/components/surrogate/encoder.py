"""What the surrogate lends to fusion: its transformer trunk reads the planet's catalog entry.

The parameters modality is what a catalog gives (`data/observation.py`): T⋆, F⋆, radius,
gravity and P_rot with the catalog's noise, the atmosphere (P0, CO2, CH4) unknown — the
prior's centre for every planet, so the surrogate's tokens carry no true atmosphere. The
embedding is the mean of the final token states (8 parameter tokens + 4 output queries): what
the pretrained surrogate makes of the planet's climate from that entry, before its output heads.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...data.observation import observed_parameter_features
from ...runs.checkpoints import submodule_state
from .model import SurrogateTransformer

MODALITY = "parameters"


class ParameterEncoder(nn.Module):
    def __init__(self, model: SurrogateTransformer):
        super().__init__()
        self.pretrained = model
        self.dim = model.norm.normalized_shape[0]

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.pretrained.hidden(batch["parameters.features"])[1].mean(dim=1)


def modality_inputs(cfg, universe, upstream=None) -> dict[str, np.ndarray]:
    return {"parameters.features": observed_parameter_features(cfg, universe)}


def lend(cfg, state: dict[str, torch.Tensor], normalisation: dict) -> ParameterEncoder:
    sc = cfg.components.surrogate
    model = SurrogateTransformer(n_pixels=state["model.pca_mean"].shape[-1], n_components=sc.n_components, d_model=sc.d_model,
                                 n_heads=sc.n_heads, n_layers=sc.n_layers, dropout=sc.dropout, n_fourier=sc.n_fourier)
    model.load_state_dict(submodule_state(state, "model."))
    return ParameterEncoder(model)

