"""Instruments: the wavelength grid a spectrum is observed on and its noise.

An instrument of resolving power R over [λ_min, λ_max] has bins of constant Δλ/λ = 1/R, i.e.
`ceil(R ln(λ_max/λ_min))` log-spaced bins. The model spectrum is computed on a finer native
grid (`NATIVE_RESOLUTION`) and averaged within each bin (what a detector pixel integrates);
white Gaussian noise of `noise_ppm` (one σ per bin, in transit-depth ppm) is then added.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NATIVE_RESOLUTION = 3000  # points per unit ln λ of the forward model's grid (well above any instrument)


@dataclass(frozen=True)
class Instrument:
    name: str
    wavelength_min_um: float
    wavelength_max_um: float
    resolution: float
    noise_ppm: float

    @property
    def edges(self) -> np.ndarray:
        n = int(np.ceil(self.resolution * np.log(self.wavelength_max_um / self.wavelength_min_um)))
        return np.exp(np.linspace(np.log(self.wavelength_min_um), np.log(self.wavelength_max_um), n + 1))

    @property
    def wavelength(self) -> np.ndarray:
        """Bin centres (geometric means of the edges), µm."""
        e = self.edges
        return np.sqrt(e[:-1] * e[1:])

    def native_grid(self) -> np.ndarray:
        n = int(np.ceil(NATIVE_RESOLUTION * np.log(self.wavelength_max_um / self.wavelength_min_um)))
        return np.exp(np.linspace(np.log(self.wavelength_min_um), np.log(self.wavelength_max_um), n + 1))

    def bin(self, native_wavelength: np.ndarray, spectra: np.ndarray) -> np.ndarray:
        """Mean of `spectra` `[..., native]` within each instrument bin → `[..., bins]`."""
        return spectra @ binning_matrix(native_wavelength, self.edges).T


def build_instrument(cfg) -> Instrument:
    """The instrument a `SpectralConfig` selects."""
    spec = cfg.instruments[cfg.instrument]
    return Instrument(cfg.instrument, spec.wavelength_min_um, spec.wavelength_max_um, spec.resolution, spec.noise_ppm)


def binning_matrix(native_wavelength: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`[bins, native]` row-normalised averaging weights of the native points falling in each bin."""
    which = np.searchsorted(edges, native_wavelength, side="right") - 1
    which[native_wavelength == edges[-1]] = len(edges) - 2
    inside = (which >= 0) & (which < len(edges) - 1)
    matrix = np.zeros((len(edges) - 1, len(native_wavelength)))
    matrix[which[inside], np.flatnonzero(inside)] = 1.0
    counts = matrix.sum(axis=1, keepdims=True)
    if (counts == 0).any():
        raise ValueError("native grid coarser than the instrument's bins")
    return matrix / counts


def add_noise(depth: np.ndarray, noise_ppm: float, rng: np.random.Generator) -> np.ndarray:
    """`depth` plus white Gaussian noise of `noise_ppm` × 1e-6 per bin."""
    return depth + rng.normal(0.0, noise_ppm * 1e-6, size=depth.shape)
