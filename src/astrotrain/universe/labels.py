"""Climate labels derived from a planet's fields: CLERO's climate state and the habitable fraction."""

from __future__ import annotations

import numpy as np

from .thermo import liquid_water_range


def area_weights(n_lat: int = 32, n_lon: int = 64) -> np.ndarray:
    """Cell area weights on CLERO's Gaussian grid, `(lat, lon)`, summing to 1."""
    from clero.climate_analysis import latitude_centers, latitude_weights

    w_lat = latitude_weights(latitude_centers(n_lat))
    return np.repeat(w_lat[:, None] / n_lon, n_lon, axis=1)


def habitable_fraction(surface_temperature: np.ndarray, surface_pressure_bar) -> np.ndarray:
    """Area-weighted share of cells where surface water is liquid at the planet's own pressure:
    273.15 K <= Ts <= T_boil(P0) (thermo.boiling_point); `(..., lat, lon)` and `(...)` → `(...)`."""
    ts = np.asarray(surface_temperature)
    lo, hi = liquid_water_range(surface_pressure_bar)
    hi = np.asarray(hi)[..., None, None]
    habitable = (ts >= lo) & (ts <= hi)
    return (habitable * area_weights(*ts.shape[-2:])).sum(axis=(-2, -1))


def climate_states(fields: dict[str, np.ndarray], parameters: dict[str, np.ndarray]) -> np.ndarray:
    """CLERO's six-way climate state (`clero.climate_analysis.CLIMATE_STATES`) as integer codes."""
    from clero.climate_analysis import CLIMATE_STATES, climate_state

    names = np.asarray(climate_state(fields, parameters)["state"])
    codes = np.array([CLIMATE_STATES.index(str(s)) for s in names.reshape(-1)], dtype=np.int64)
    return codes.reshape(names.shape)
