"""What an observer has of a planet's parameters: its catalog entry (DESIGN.md, "What models see").

A catalog measures the host and the orbit, and from transits and radial velocities the planet's
radius and mass; it does not measure the atmosphere. So the *catalog view* of a universe planet is

* T⋆, F⋆, radius, gravity, P_rot with the catalog's noise: log-normal, one draw per planet
  (one catalog entry, seeded by (run.seed, stream)), of fractional 1σ `data.observation.catalog_noise`;
  P_rot is the orbital period, known to ~10⁻⁵ from the transits, equal to the rotation for the
  tidally locked planets of the universe (an assumption the archive mapping flags for real planets);
* P0, CO2, CH4 *not known*: set to the log-centre of the universe's prior (`unknown_atmosphere`),
  the same value for every planet — a model learns what the parameters say averaged over the
  atmospheres the prior allows. The abundances an observer can have come from the spectrum,
  through the spectral retrieval (the gases modality), never from the truth.

Real catalog planets are mapped to the same view (`catalog_features` with no noise added: their
values already carry the archive's errors).
"""

from __future__ import annotations

import numpy as np

from ..universe.sampling import LOG_PARAMETERS, PARAMETER_NAMES, core_domain
from .features import parameter_features

CATALOG_PARAMETERS = ("T_star", "F_star", "radius", "gravity", "P_rot")
"""Measured by a catalog (with noise)."""
ATMOSPHERE_PARAMETERS = ("P0", "CO2", "CH4")
"""Not in any catalog: unknown to the parameters modality."""
NOISE_STREAM = 0xCA7A  # seed stream of the catalog noise (independent of every other stream)


def unknown_atmosphere(universe_cfg) -> dict[str, float]:
    """The log-centre (geometric mean of the bounds) of the universe's P0, CO2 and CH4 priors."""
    bounds = {"P0": core_domain()["P0"], "CO2": tuple(universe_cfg.co2_range), "CH4": tuple(universe_cfg.ch4_range)}
    return {name: float(np.sqrt(lo * hi)) for name, (lo, hi) in bounds.items()}


def catalog_view(table, noise: dict[str, float], unknown: dict[str, float], seed: int | None):
    """A copy of `table` (the 8 parameters per row) as a catalog has it: measured parameters times
    exp(σ ε), ε ~ N(0, 1) drawn once per row from (seed, NOISE_STREAM) — `seed=None` adds none —
    and the atmosphere set to `unknown`."""
    view = table[list(PARAMETER_NAMES)].copy()
    if seed is not None:
        rng = np.random.default_rng([seed, NOISE_STREAM])
        draws = rng.standard_normal((len(view), len(CATALOG_PARAMETERS)))
        for j, name in enumerate(CATALOG_PARAMETERS):
            view[name] = view[name].to_numpy(np.float64) * np.exp(float(noise[name]) * draws[:, j])
    for name in ATMOSPHERE_PARAMETERS:
        view[name] = unknown[name]
    return view


def catalog_features(table, noise: dict[str, float], unknown: dict[str, float], seed: int | None) -> np.ndarray:
    """`parameter_features` of the catalog view `[N, 8]` (log10 of the log-sampled parameters)."""
    return parameter_features(catalog_view(table, noise, unknown, seed))


def observed_parameter_features(cfg, universe) -> np.ndarray:
    """The catalog view of every planet of a universe under a run's config."""
    obs = cfg.data.observation
    return catalog_features(universe.parameters, obs.catalog_noise.model_dump(), unknown_atmosphere(cfg.data.universe), cfg.run.seed)


__all__ = ["ATMOSPHERE_PARAMETERS", "CATALOG_PARAMETERS", "LOG_PARAMETERS", "catalog_features", "catalog_view",
           "observed_parameter_features", "unknown_atmosphere"]
