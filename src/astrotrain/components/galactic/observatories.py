"""The observatories of the federation: who observes which planets, with which instrument.

Non-IID by construction, as real surveys are:

* **Host stars.** An observatory observes planets whose host-star temperature lies in its range
  (`host_star_teff_k`): M-dwarf programmes, K-dwarf surveys, Sun-like targets, a broad survey.
  Each training planet goes to at most one observatory — the most specialised one whose range
  covers it keeps it with probability `share`, else the next one tries — so no planet (raw data)
  is held twice, and the shard sizes differ (`share`, and how many stars of each type exist).
* **Instruments.** Each observatory sees spectra through its own instrument (wavelength range,
  resolving power, noise) on the wavelength grid of the spectral encoder it was lent:
  `observe` averages the noise-free spectrum into bins of the instrument's resolving power,
  adds its white noise per bin, and marks wavelengths outside its range as unobserved
  (a featureless fill with σ = `UNOBSERVED_SIGMA`, so the encoder reads "no information").
"""

from __future__ import annotations

import numpy as np

UNOBSERVED_SIGMA = 1e-3  # transit-depth σ of a wavelength bin the instrument does not cover (1000 ppm: no information)


def assign_planets(t_star: np.ndarray, planets: np.ndarray, observatories, seed: int) -> list[np.ndarray]:
    """For each observatory, the planets of `planets` (universe indices, T⋆ = `t_star[planets]`) it holds."""
    order = sorted(range(len(observatories)), key=lambda k: np.subtract(*observatories[k].host_star_teff_k[::-1]))  # narrow ranges first
    rng = np.random.default_rng([seed, 0x0B5])
    draws = rng.random((len(planets), len(observatories)))  # one uniform per (planet, observatory): order-independent
    owner = np.full(len(planets), -1)
    for k in order:
        lo, hi = observatories[k].host_star_teff_k
        covers = (t_star[planets] >= lo) & (t_star[planets] < hi)
        take = (owner < 0) & covers & (draws[:, k] < observatories[k].share)
        owner[take] = k
    return [np.sort(planets[owner == k]) for k in range(len(observatories))]


def observe(depth: np.ndarray, wavelength_um: np.ndarray, grid_resolution: float, instrument, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(depth, σ) `[n, bins]` of noise-free spectra `depth` on the encoder's grid, as `instrument` sees them.

    Bins of the grid are grouped `round(grid_resolution / instrument.resolution)` at a time (≥ 1)
    and averaged — a coarser detector pixel — within the instrument's wavelength range; each
    group gets one noise draw of σ = noise_ppm. Outside the range: the observed in-range mean,
    with σ = UNOBSERVED_SIGMA.
    """
    n, bins = depth.shape
    inside = (wavelength_um >= instrument.wavelength_min_um) & (wavelength_um <= instrument.wavelength_max_um)
    if not inside.any():
        raise ValueError(f"instrument {instrument.name} ({instrument.wavelength_min_um}–{instrument.wavelength_max_um} µm) "
                         f"covers none of the encoder's grid ({wavelength_um[0]:.2f}–{wavelength_um[-1]:.2f} µm)")
    group = max(1, int(round(grid_resolution / instrument.resolution)))
    index = np.flatnonzero(inside)
    pixel = (index - index[0]) // group  # which coarse pixel each covered bin falls in
    n_pixels = int(pixel[-1]) + 1
    sums = np.zeros((n, n_pixels))
    np.add.at(sums.T, pixel, depth[:, index].T)
    means = sums / np.bincount(pixel, minlength=n_pixels)
    noisy = means + rng.normal(0.0, instrument.noise_ppm * 1e-6, size=means.shape)
    observed = np.repeat(noisy.mean(axis=1, keepdims=True), bins, axis=1)
    observed[:, index] = noisy[:, pixel]
    sigma = np.full((n, bins), UNOBSERVED_SIGMA)
    sigma[:, index] = max(instrument.noise_ppm, 1e-3) * 1e-6
    return observed, sigma
