"""Small datasets in the Ariel Big Challenge layout, written by the tests themselves.

The spectra are a synthetic stand-in for the challenge's TauREx models, with the same files, keys,
units and magnitudes: hot H2 atmospheres (T 500-2500 K, μ = 2.3) whose transit radius rises by a few
scale heights with the log of each gas's band opacity, on the challenge's 52-bin 0.55-7.8 µm grid,
with 30-80 ppm noise. Traces are Gaussian reference posteriors around the truth with random weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astrotrain.components.spectral.challenge import AUX_COLUMNS, TRACE_ORDER

GRID = np.exp(np.linspace(np.log(0.55), np.log(7.8), 52))
BANDS = {"H2O": (1.4, 2.7, 6.3), "CO2": (2.0, 4.3), "CO": (2.35, 4.6), "CH4": (2.3, 3.3, 7.7), "NH3": (1.5, 2.0, 3.0, 6.1)}
R_JUPITER, R_SUN, M_JUPITER = 7.1492e7, 6.957e8, 1.898e27


def draw_planets(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = {"planet_radius": rng.uniform(0.5, 1.5, n), "planet_temp": rng.uniform(500, 2500, n)}
    p.update({f"log_{gas}": rng.uniform(-8.0, -2.0, n) for gas in BANDS})
    p["planet_surface_gravity"] = rng.uniform(5.0, 40.0, n)
    p["star_radius_m"] = rng.uniform(0.6, 1.4, n) * R_SUN
    return p


def spectra(p: dict[str, np.ndarray]) -> np.ndarray:
    """`[planet, 52]` transit depths: R(λ) = R_p + H ln(1 + Σ_gas x_gas band_gas(λ) / 1e-7)."""
    h = 1.380649e-23 * p["planet_temp"] / (2.3 * 1.66054e-27 * p["planet_surface_gravity"])
    kappa = sum(10.0 ** p[f"log_{gas}"][:, None] * sum(np.exp(-0.5 * ((GRID - c) / (0.06 * c)) ** 2) for c in centres) for gas, centres in BANDS.items())
    radius = p["planet_radius"][:, None] * R_JUPITER + h[:, None] * np.log1p(kappa / 1e-7)
    return (radius / p["star_radius_m"][:, None]) ** 2


def write_challenge(directory: Path, n: int = 400, seed: int = 0, table: bool = True, traces: bool = True) -> Path:
    import h5py
    import pandas as pd

    rng = np.random.default_rng([seed, 1])
    p = draw_planets(n, seed)
    depth = spectra(p)
    noise = rng.uniform(30e-6, 80e-6, n)[:, None] * np.ones_like(depth)
    ids = [f"train{i + 1}" for i in range(n)]
    truth = (directory / "Ground Truth Package")
    truth.mkdir(parents=True, exist_ok=True)
    with h5py.File(directory / "SpectralData.hdf5", "w") as f:
        for i, pid in enumerate(ids):
            g = f.create_group(f"Planet_{pid}")
            g["instrument_wlgrid"], g["instrument_spectrum"], g["instrument_noise"] = GRID, depth[i], noise[i]
            g["instrument_width"] = GRID / 52.0
    aux = pd.DataFrame({"planet_ID": ids})
    values = {"star_distance": rng.uniform(10, 300, n), "star_mass_kg": p["star_radius_m"] / R_SUN * 1.989e30, "star_radius_m": p["star_radius_m"],
              "star_temperature": rng.uniform(3500, 6500, n), "planet_mass_kg": p["planet_surface_gravity"] * (p["planet_radius"] * R_JUPITER) ** 2 / 6.674e-11,
              "planet_orbital_period": rng.uniform(1, 20, n), "planet_distance": rng.uniform(0.01, 0.2, n),
              "planet_radius_m": p["planet_radius"] * R_JUPITER, "planet_surface_gravity": p["planet_surface_gravity"]}
    for column in AUX_COLUMNS:
        aux[column] = values[column]
    aux.to_csv(directory / "AuxillaryTable.csv", index=False)
    if table:
        pd.DataFrame({"planet_ID": ids, **{name: p[name] for name in TRACE_ORDER}}).to_csv(truth / "FM_Parameter_Table.csv")
    if traces:
        widths = np.array([0.01, 60.0, 0.3, 0.3, 0.5, 0.3, 0.4])  # R_J, K, dex
        with h5py.File(truth / "Tracedata.hdf5", "w") as f:
            for i, pid in enumerate(ids):
                k = int(rng.integers(150, 300))
                centre = np.array([p[name][i] for name in TRACE_ORDER]) + widths * rng.normal(size=7)  # the posterior is not centred on the truth
                g = f.create_group(f"Planet_{pid}")
                g["tracedata"] = centre + widths * rng.normal(size=(k, 7))
                g["weights"] = rng.dirichlet(np.ones(k))
    return directory
