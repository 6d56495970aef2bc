"""The trained retrieval as an observer's instrument: what a spectrum says of the planet's gases.

`Retriever` rebuilds the retrieval network of a finished spectral run (CNN, posterior head, the
gases' biosphere likelihood, normalisation); `retrieve_all` runs it over noisy spectra. `gas_detections` turns a retrieval into what an
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

from ...errors import UserError
from ...runs.checkpoints import submodule_state
from .data import CONTEXT, TARGET_GASES
from .instrument import build_instrument
from .model import SpectralRetrieval

DETECTION_FIELDS = ("detected", "value", "sigma")  # last axis of gas_detections


def universe_retrieval(cfg, state: dict[str, torch.Tensor]) -> SpectralRetrieval:
    """The spectral run's network (CNN, posterior head, biosphere likelihood, normalisation) from its
    checkpoint state; only a run trained on the universe can read the universe's spectra."""
    sc = cfg.components.spectral
    if sc.dataset != "universe":
        raise UserError(f"the spectral run was trained on components.spectral.dataset={sc.dataset!r}, but fusion and the "
                        "galactic phase observe the universe's planets; train the spectral component with dataset=universe for them")
    stats = {name[len("net."):]: value for name, value in state.items() if name.count(".") == 1 and name.startswith("net.")}
    net = SpectralRetrieval(sc, len(build_instrument(sc).wavelength), stats, len(TARGET_GASES), biosphere=True)
    net.load_state_dict(submodule_state(state, "net."))
    return net.eval()


class Retriever(nn.Module):
    """The spectral run's retrieval as an observer's instrument, with its detection thresholds."""

    def __init__(self, cfg, state: dict[str, torch.Tensor]):
        super().__init__()
        sc = cfg.components.spectral
        self.net = universe_retrieval(cfg, state)
        self.detection_sigma, self.detection_floor = sc.detection_sigma, sc.detection_floor
        self.eval()

    def forward(self, depth, sigma, context, r_star, seed: int = 0) -> dict[str, torch.Tensor]:
        gravity = context[:, CONTEXT.index("gravity")]
        out = self.net(depth, sigma, context, r_star, gravity, seed=seed)
        return {key: out[key] for key in ("log10_abundance", "sigma_dex", "p_biosphere")}


@torch.inference_mode()
def retrieve_all(retriever: Retriever, depth, sigma, context, r_star, chunk: int = 512) -> dict[str, np.ndarray]:
    """Retrievals of `[n, bins]` spectra: log10_abundance, sigma_dex `[n, gases]` (posterior mean and
    standard deviation), p_biosphere `[n]`; each chunk's posterior samples seeded by its position."""
    arrays = [torch.tensor(np.asarray(a), dtype=torch.float32) for a in (depth, sigma, context, r_star)]
    parts = [retriever(*(a[s : s + chunk] for a in arrays), seed=s) for s in range(0, len(arrays[0]), chunk)]
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
