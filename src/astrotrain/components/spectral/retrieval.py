"""The trained retrieval as an observer's instrument: what a spectrum says of the planet's gases.

`Retriever` rebuilds the CNN of a finished spectral run with its normalisation and σ calibration;
`retrieve_all` runs it over noisy spectra. `gas_detections` turns a retrieval into what an
observer reports per gas: *detected* where the retrieved abundance exceeds `detection_floor` at
`detection_sigma` σ (μ − kσ > log10 floor; a retrieval that cannot exclude "absent" claims no
detection), with μ ± σ; otherwise *not detected*, with the upper limit μ + kσ only. These
(detected, value, σ) triples are fusion's gases modality and the LLM's "observations": the
retrieved inventory, never the true one.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...runs.checkpoints import submodule_state
from .data import CONTEXT, TARGET_GASES
from .instrument import build_instrument
from .model import SpectralCNN
from .module import network_inputs, physical_outputs

BUFFERS = ("target_mean", "target_std", "context_mean", "context_std", "sigma_scale")
DETECTION_FIELDS = ("detected", "value", "sigma")  # last axis of gas_detections


class Retriever(nn.Module):
    """The spectral run's CNN with the buffers that make its outputs physical."""

    def __init__(self, cfg, state: dict[str, torch.Tensor]):
        super().__init__()
        sc = cfg.components.spectral
        n_bins = len(build_instrument(sc).wavelength)
        self.model = SpectralCNN(n_bins, len(CONTEXT), state["target_mean"].shape[0], sc.width, sc.stages, sc.hidden, sc.dropout)
        self.model.load_state_dict(submodule_state(state, "model."))
        for name in BUFFERS:
            self.register_buffer(name, state[name].clone())
        self.detection_sigma, self.detection_floor = sc.detection_sigma, sc.detection_floor
        self.eval()

    def forward(self, depth, sigma, context, r_star) -> dict[str, torch.Tensor]:
        inputs = network_inputs(depth, sigma, context, r_star, self.context_mean, self.context_std)
        return physical_outputs(self.model(*inputs), self.target_mean, self.target_std, self.sigma_scale)


@torch.inference_mode()
def retrieve_all(retriever: Retriever, depth, sigma, context, r_star, chunk: int = 512) -> dict[str, np.ndarray]:
    """Retrievals of `[n, bins]` spectra: log10_abundance, sigma_dex `[n, gases]`, p_biosphere `[n]`."""
    arrays = [torch.tensor(np.asarray(a), dtype=torch.float32) for a in (depth, sigma, context, r_star)]
    parts = [retriever(*(a[s : s + chunk] for a in arrays)) for s in range(0, len(arrays[0]), chunk)]
    return {key: torch.cat([p[key] for p in parts]).numpy().astype(np.float64) for key in parts[0]}


def gas_detections(retrieval: dict[str, np.ndarray], detection_sigma: float, detection_floor: float) -> np.ndarray:
    """`[n, gases, 3]` (detected 0/1, value, σ): μ and σ where detected, the upper limit μ + kσ and σ = 0 where not."""
    mean, sigma = retrieval["log10_abundance"], retrieval["sigma_dex"]
    detected = mean - detection_sigma * sigma > np.log10(detection_floor)
    value = np.where(detected, mean, np.minimum(mean + detection_sigma * sigma, 0.0))
    return np.stack([detected.astype(np.float64), value, np.where(detected, sigma, 0.0)], axis=-1)


def describe_detections(detections: np.ndarray, gases=TARGET_GASES) -> list[str]:
    """Per gas, how an observer writes it: 'O2 10^-2.1±0.3' or 'N2O not detected (< 10^-7.9)'."""
    words = []
    for gas, (detected, value, sigma) in zip(gases, detections):
        words.append(f"{gas} 10^{value:.1f}±{sigma:.1f}" if detected else f"{gas} not detected (< 10^{value:.1f})")
    return words
