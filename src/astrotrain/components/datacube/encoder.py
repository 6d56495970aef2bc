"""What the datacube U-Net lends to fusion: its contracting path reads the planet's climate maps.

The climate modality is the surface temperature, ASR and OLR maps (what a GCM run or a
phase-curve map gives). The U-Net's FiLM conditioning gets the training-mean parameters
(zeros after standardisation) and the maps' own means: the parameters are a modality of their
own in fusion, and a planet with maps but no parameters must still be readable. Only the
surface level is encoded (the maps are 2D; the convolutions are level-agnostic), which keeps
fine-tuning ten times cheaper than running the full column.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...data.splits import planet_splits
from ...runs.checkpoints import submodule_state
from .model import ENCODING_GRID, DatacubeUNet

MODALITY = "climate"


class ClimateEncoder(nn.Module):
    def __init__(self, unet: DatacubeUNet, input_mean, input_std, n_params: int):
        super().__init__()
        self.pretrained = unet
        self.n_params = n_params
        self.register_buffer("input_mean", torch.as_tensor(np.asarray(input_mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("input_std", torch.as_tensor(np.asarray(input_std), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("surface_level", torch.zeros(1))
        self.dim = unet.down[-1].conv2.horizontal.out_channels * ENCODING_GRID[0] * ENCODING_GRID[1]

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        maps = (batch["climate.maps"] - self.input_mean) / self.input_std
        params = maps.new_zeros(maps.shape[0], self.n_params)
        return self.pretrained.encode(maps, params, self.surface_level)


def modality_inputs(cfg, universe, upstream=None) -> dict[str, np.ndarray]:
    fields = cfg.components.datacube.input_fields
    return {"climate.maps": np.stack([universe.field(name) for name in fields], axis=1)}


def lend(cfg, state: dict[str, torch.Tensor], normalisation: dict) -> ClimateEncoder:
    dc = cfg.components.datacube
    n_in, n_out = len(dc.input_fields), len(dc.target_fields)
    n_levels = state["level_coord"].shape[0]
    n_params = state["model.down.0.film.weight"].shape[1] - n_in
    unet = DatacubeUNet(n_in, n_out, n_levels, n_params=n_params, width=dc.width, depth=dc.depth)
    unet.load_state_dict(submodule_state(state, "model."))
    return ClimateEncoder(unet, normalisation["input_mean"], normalisation["input_std"], n_params)


def trained_on(cfg, universe) -> np.ndarray:
    """Universe planets the datacube trained on: the train split of its first max_planets (fusion keeps them out of val/test)."""
    dc, split = cfg.components.datacube, cfg.data.split
    if dc.datacubes:  # trained on ingested GCM cubes, not on universe planets
        return np.zeros(0, dtype=np.int64)
    n = len(universe) if dc.max_planets == 0 else min(dc.max_planets, len(universe))
    return planet_splits(n, split.train, split.val, split.seed)["train"]
