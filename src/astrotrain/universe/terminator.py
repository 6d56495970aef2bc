"""What a transmission spectrum sees of a planet's climate: the terminator's upper atmosphere.

Starlight grazes the planet along the day-night terminator (|longitude| = 90° from the
substellar point of CLERO's tidally locked planets), and transmission spectra of temperate
rocky planets probe roughly 0.01-0.3 bar (e.g. Kaltenegger & Traub 2009; Bétrémieux &
Kaltenegger 2014, refraction cuts off deeper levels). From the datacube we therefore take, per
planet, the latitude-area-weighted mean over the terminator columns (the two longitude
columns either side of ±90°) and over the upper `N_PROBED_LEVELS` model levels
(≈ 0.3 P0 … 10 mbar) of:

* the temperature → the isothermal formula's T;
* the specific humidity q (kg/kg) → the H2O volume mixing ratio x = r / (1 + r), with the
  molar mixing ratio to the dry gas r = (q / (1 − q)) · μ_dry / μ_H2O (`h2o_volume_fraction`,
  applied in biosphere.py once the planet's dry composition, hence μ_dry, is known);
* the cloud fraction → the grey cloud deck: the pressure of the highest level whose terminator
  cloud fraction reaches `CLOUD_DECK_FRACTION` (no deck, i.e. the surface, if none does).
"""

from __future__ import annotations

import numpy as np

N_PROBED_LEVELS = 4  # upper model levels averaged (levels 6-9: 0.28, 0.18, 0.09, 0.01 × P0 … 10 mbar)
CLOUD_DECK_FRACTION = 0.5  # terminator cloud fraction above which a level counts as an opaque deck
TERMINATOR_HALF_WIDTH_DEG = 6.0  # columns within this of |lon| = 90° (two per side on CLERO's 5.6° grid)
M_H2O = 18.015  # g/mol


def terminator_columns(lon: np.ndarray) -> np.ndarray:
    """Boolean mask over longitudes (degrees, substellar point at 0) of the terminator columns."""
    return np.abs(np.abs(np.asarray(lon)) - 90.0) < TERMINATOR_HALF_WIDTH_DEG


def terminator_state(temperature, specific_humidity, cloud_fraction, level_pressure, surface_pressure, lat, lon) -> dict[str, np.ndarray]:
    """Terminator temperature [K], H2O mixing ratio and cloud-deck pressure [Pa] per planet.

    Fields are `[planet, level, lat, lon]` with level 0 the lowest; `level_pressure` is
    `[planet, level]` and `surface_pressure` `[planet]` in Pa.
    """
    columns = terminator_columns(lon)
    w_lat = np.cos(np.deg2rad(np.asarray(lat)))
    w_lat = w_lat / w_lat.sum()

    def profile(field):  # [planet, level]: area-weighted terminator mean per level
        return np.einsum("plj,j->pl", np.asarray(field, dtype=np.float64)[..., columns].mean(axis=-1), w_lat)

    upper = slice(-N_PROBED_LEVELS, None)
    t_profile, q_profile, c_profile = profile(temperature), profile(specific_humidity), profile(cloud_fraction)
    q = q_profile[:, upper].mean(axis=1).clip(0.0, 0.999)
    cloudy = c_profile >= CLOUD_DECK_FRACTION
    n_levels = cloudy.shape[1]
    top = np.where(cloudy.any(axis=1), n_levels - 1 - np.argmax(cloudy[:, ::-1], axis=1), -1)
    surface = np.asarray(surface_pressure, dtype=np.float64)
    deck = np.where(top >= 0, np.take_along_axis(np.asarray(level_pressure), np.maximum(top, 0)[:, None], axis=1)[:, 0], surface)
    return {
        "terminator_temperature": t_profile[:, upper].mean(axis=1),
        "specific_humidity": q,
        "cloud_top_pressure": deck,
    }


def h2o_volume_fraction(q: np.ndarray, mu_dry: np.ndarray) -> np.ndarray:
    """Volume mixing ratio of H2O for specific humidity `q` in a dry gas of molar mass `mu_dry` g/mol."""
    r = q / (1.0 - q) * mu_dry / M_H2O
    return r / (1.0 + r)
