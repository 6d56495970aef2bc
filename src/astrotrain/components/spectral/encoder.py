"""What the retrieval CNN lends to fusion: its reading of the planet's transmission spectrum.

The spectrum modality is one noisy observation per planet on the configured instrument (noise
drawn once, seeded: what an observer has), with its context (T⋆, g). The embedding is what the
CNN read from the spectrum: the features the posterior head conditions on.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .data import CONTEXT, planet_spectra
from .forward import DEFAULT_OPACITIES, OpacityTable, stellar_radius
from .instrument import build_instrument
from .model import SpectralRetrieval
from .retrieval import universe_retrieval

MODALITY = "spectrum"
NOISE_STREAM = 0xF5EC  # seed stream of the fused observations' noise (independent of the retrieval's own)


class SpectrumEncoder(nn.Module):
    def __init__(self, net: SpectralRetrieval):
        super().__init__()
        self.pretrained = net
        self.dim = net.cnn.hidden

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        context = batch["spectrum.context"]
        return self.pretrained.embed(batch["spectrum.depth"], batch["spectrum.sigma"], context, batch["spectrum.r_star"], context[:, CONTEXT.index("gravity")])


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
    net = universe_retrieval(cfg, state)
    net.posterior = net.biosphere = None  # fusion reads the embedding only: no idle parameters to optimise or all-reduce
    return SpectrumEncoder(net)
