"""Climate labels derived from a planet's fields: CLERO's climate state and the habitable fraction."""

from __future__ import annotations

import numpy as np

from .thermo import liquid_water_range


def area_weights(n_lat: int = 32, n_lon: int = 64) -> np.ndarray:
    """Cell area weights on CLERO's Gaussian grid, `(lat, lon)`, summing to 1."""
    from clero.climate_analysis import latitude_centers, latitude_weights

    w_lat = latitude_weights(latitude_centers(n_lat))
    return np.repeat(w_lat[:, None] / n_lon, n_lon, axis=1)


def habitable_fraction(surface_temperature: np.ndarray, surface_pressure_bar, weights: np.ndarray | None = None) -> np.ndarray:
    """Area-weighted share of cells where surface water is liquid at the planet's own pressure:
    273.15 K <= Ts <= T_boil(P0) (thermo.boiling_point); `(..., lat, lon)` and `(...)` → `(...)`.
    `weights` (lat, lon) summing to 1: the grid's cell areas (default: CLERO's grid)."""
    ts = np.asarray(surface_temperature)
    lo, hi = liquid_water_range(surface_pressure_bar)
    hi = np.asarray(hi)[..., None, None]
    habitable = (ts >= lo) & (ts <= hi)
    return (habitable * (area_weights(*ts.shape[-2:]) if weights is None else weights)).sum(axis=(-2, -1))


def climate_states_on_grid(surface_temperature: np.ndarray, weights: np.ndarray, h2o_vmr_top: np.ndarray | None = None) -> np.ndarray:
    """CLERO's six-way classification (`clero.climate_analysis.climate_state`'s rules and thresholds) on any
    grid with its own cell areas: runaway above a 400 K global mean, moist greenhouse where the area-mean
    top-level H2O volume mixing ratio reaches 1e-3 (when given), then the ice-cover classes. `[..., lat, lon]` → codes."""
    from clero.climate_analysis import CLIMATE_STATES

    ts = np.asarray(surface_temperature, dtype=np.float64)
    mean = (ts * weights).sum(axis=(-2, -1))
    warm = ts > 273.15
    none, every, belt = ~warm.any(axis=(-2, -1)), warm.all(axis=(-2, -1)), warm.all(axis=-1).any(axis=-1)
    code = CLIMATE_STATES.index
    state = np.select([none, every, belt], [code("snowball"), code("globally_temperate"), code("waterbelt")], code("eyeball"))
    if h2o_vmr_top is not None:
        state = np.where(np.asarray(h2o_vmr_top) >= 1e-3, code("moist_greenhouse"), state)
    return np.where(mean > 400.0, code("runaway_greenhouse"), state).astype(np.int64)


def climate_states(fields: dict[str, np.ndarray], parameters: dict[str, np.ndarray]) -> np.ndarray:
    """CLERO's six-way climate state (`clero.climate_analysis.CLIMATE_STATES`) as integer codes."""
    from clero.climate_analysis import CLIMATE_STATES, climate_state

    names = np.asarray(climate_state(fields, parameters)["state"])
    codes = np.array([CLIMATE_STATES.index(str(s)) for s in names.reshape(-1)], dtype=np.int64)
    return codes.reshape(names.shape)
