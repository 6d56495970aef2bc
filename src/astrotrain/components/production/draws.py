"""What `predict` does not know about a planet, drawn: its atmosphere, and for an M sin i its inclination.

Each planet is predicted under `k` draws. Draw j takes, for each of P0, CO2 and CH4, the quantile
u_j (fixed per run, in the export manifest: every planet sees the same quantiles) of a log-uniform
prior — the planet's own bounds where the input gives them (`prior_<name>_min/_max`; a value
given is both), else the universe's prior the models were trained on. A planet whose mass is
M sin i (a radial-velocity minimum mass) gets inclinations from the isotropic prior, stratified:
cos i_j = (j + ½) / k, so its true mass M sin i / sin i_j, with the radius of that mass (Chen &
Kipping 2017: a non-transiting planet has no measured radius) and the gravity from both.
"""

from __future__ import annotations

import numpy as np

from ...data.mapping import EARTH_GRAVITY, radius_from_mass
from ...universe.sampling import PARAMETER_NAMES, core_domain

ATMOSPHERE = ("P0", "CO2", "CH4")
MEDIAN_SIN_I = np.sqrt(0.75)  # the isotropic prior's median inclination, 60°


def atmosphere_quantiles(k: int, seed: int) -> dict[str, list[float]]:
    """`k` quantiles per atmosphere parameter, one seeded draw (stored in the manifest)."""
    rng = np.random.default_rng([seed, 0xA7])
    return {name: rng.random(k).tolist() for name in ATMOSPHERE}


def universe_prior(universe_cfg) -> dict[str, list[float]]:
    """The log-uniform bounds the universe drew P0, CO2 and CH4 from."""
    return {"P0": list(core_domain()["P0"]), "CO2": list(universe_cfg.co2_range), "CH4": list(universe_cfg.ch4_range)}


def msini_point(table):
    """The mapped rows with M sin i planets at the median inclination (mass / sin 60°, its radius, its gravity):
    the values their domain and limits are judged by."""
    out = table.copy()
    if "msini" not in out or not out["msini"].any():
        return out
    rows = out["msini"].to_numpy(bool)
    mass = out.loc[rows, "gravity"] * out.loc[rows, "radius"] ** 2 / EARTH_GRAVITY / MEDIAN_SIN_I
    out.loc[rows, "radius"] = radius_from_mass(mass)
    out.loc[rows, "gravity"] = EARTH_GRAVITY * mass / out.loc[rows, "radius"] ** 2
    return out


def planet_draws(table, quantiles: dict[str, list[float]], prior: dict[str, list[float]]) -> np.ndarray:
    """`[n·k, 8]` parameters (planet-major, PARAMETER_NAMES order, physical units) of every planet's draws."""
    n, k = len(table), len(quantiles["P0"])
    grid = {name: np.repeat(table[name].to_numpy(np.float64), k) for name in PARAMETER_NAMES}
    for name in ATMOSPHERE:
        lo = table.get(f"prior_{name}_min", np.full(n, np.nan))
        hi = table.get(f"prior_{name}_max", np.full(n, np.nan))
        lo = np.where(np.isfinite(lo), lo, prior[name][0]) if n else np.zeros(0)
        hi = np.where(np.isfinite(hi), hi, prior[name][1]) if n else np.zeros(0)
        u = np.tile(np.asarray(quantiles[name], dtype=np.float64), n)
        log_lo, log_hi = np.repeat(np.log10(np.maximum(lo, 1e-30)), k), np.repeat(np.log10(np.maximum(hi, 1e-30)), k)
        grid[name] = 10.0 ** (log_lo + u * (log_hi - log_lo))
    if "msini" in table and n and table["msini"].any():
        rows = np.repeat(table["msini"].to_numpy(bool), k)
        sin_i = np.sqrt(1.0 - ((np.arange(k) + 0.5) / k) ** 2)
        sin_i = np.tile(sin_i, n)[rows]
        min_mass = np.repeat((table["gravity"] * table["radius"] ** 2 / EARTH_GRAVITY).to_numpy(np.float64), k)[rows]
        mass = min_mass / sin_i
        grid["radius"][rows] = radius_from_mass(mass)
        grid["gravity"][rows] = EARTH_GRAVITY * mass / grid["radius"][rows] ** 2
    return np.stack([grid[name] for name in PARAMETER_NAMES], axis=1)
