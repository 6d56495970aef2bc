"""Sampling planet parameters within CLERO's core validity domain.

The 8 CLERO inputs are drawn independently: uniform where the physics is roughly linear over
the range (stellar temperature, instellation, radius, gravity), log-uniform where it spans
decades and acts multiplicatively (rotation period, surface pressure, CO2 and CH4 volume
fractions: greenhouse forcing goes as the log of the abundance, Myhre et al. 1998).
"""

from __future__ import annotations

import numpy as np

PARAMETER_NAMES = ("T_star", "F_star", "radius", "gravity", "P_rot", "P0", "CO2", "CH4")
"""The order used everywhere (CLERO's own input order)."""

PARAMETER_UNITS = {"T_star": "K", "F_star": "W m-2", "radius": "R_earth", "gravity": "m s-2", "P_rot": "d", "P0": "bar", "CO2": "1", "CH4": "1"}

LOG_PARAMETERS = ("P_rot", "P0", "CO2", "CH4")
"""Parameters sampled log-uniform, and fed to models as log10."""


def core_domain() -> dict[str, tuple[float, float]]:
    """CLERO's core domain, `{name: (low, high)}` (imported lazily: clero loads numpy only)."""
    from clero import CORE_DOMAIN

    return {name: tuple(map(float, CORE_DOMAIN[name])) for name in PARAMETER_NAMES}


def sample_parameters(n: int, seed: int, co2_range: tuple[float, float], ch4_range: tuple[float, float]) -> dict[str, np.ndarray]:
    """Draw `n` planets; same (n, seed, ranges) → identical arrays on any machine (PCG64)."""
    rng = np.random.default_rng(seed)
    bounds = core_domain()
    bounds["CO2"] = co2_range
    bounds["CH4"] = ch4_range
    out: dict[str, np.ndarray] = {}
    for name in PARAMETER_NAMES:
        lo, hi = bounds[name]
        u = rng.random(n)
        if name in LOG_PARAMETERS:
            out[name] = 10.0 ** (np.log10(lo) + u * (np.log10(hi) - np.log10(lo)))
        else:
            out[name] = lo + u * (hi - lo)
    return out
