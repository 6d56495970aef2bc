"""What the retrieval CNN lends to fusion: its reading of the planet's transmission spectrum.

The spectrum modality is one noisy observation per planet on the configured instrument (noise
drawn once, seeded: what an observer has), with its context (T⋆, g). The embedding is the
retrieval head's last hidden layer, the features from which abundances and P(biosphere) are read.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...runs.checkpoints import submodule_state
from .data import CONTEXT, planet_spectra
from .forward import DEFAULT_OPACITIES, OpacityTable, stellar_radius
from .instrument import build_instrument
from .model import SpectralCNN
from .module import network_inputs

MODALITY = "spectrum"
NOISE_STREAM = 0xF5EC  # seed stream of the fused observations' noise (independent of the retrieval's own)


class SpectrumEncoder(nn.Module):
    def __init__(self, model: SpectralCNN, context_mean: torch.Tensor, context_std: torch.Tensor):
        super().__init__()
        self.pretrained = model
        self.register_buffer("context_mean", context_mean.clone())
        self.register_buffer("context_std", context_std.clone())
        self.dim = model.head[-1].in_features

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = network_inputs(batch["spectrum.depth"], batch["spectrum.sigma"], batch["spectrum.context"], batch["spectrum.r_star"],
                                self.context_mean, self.context_std)
        return self.pretrained.embed(*inputs)


def modality_inputs(cfg, universe, upstream=None) -> dict[str, np.ndarray]:
    sc = cfg.components.spectral
    instrument = build_instrument(sc)
    depth = planet_spectra(universe, instrument, OpacityTable.from_csv(sc.opacity_table or DEFAULT_OPACITIES))
    sigma = np.full(depth.shape, instrument.noise_ppm * 1e-6)
    noise = np.random.default_rng([cfg.run.seed, NOISE_STREAM]).normal(size=depth.shape) * sigma
    params = universe.parameters
    return {
        "spectrum.depth": depth + noise,
        "spectrum.sigma": sigma,
        "spectrum.context": params[list(CONTEXT)].to_numpy(np.float64),
        "spectrum.r_star": stellar_radius(params["T_star"].to_numpy()),
    }


def lend(cfg, state: dict[str, torch.Tensor], normalisation: dict) -> SpectrumEncoder:
    sc = cfg.components.spectral
    n_bins = len(build_instrument(sc).wavelength)
    model = SpectralCNN(n_bins, len(CONTEXT), state["target_mean"].shape[0], sc.width, sc.stages, sc.hidden, sc.dropout)
    model.load_state_dict(submodule_state(state, "model."))
    return SpectrumEncoder(model, state["context_mean"], state["context_std"])
