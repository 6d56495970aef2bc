"""Transmission spectra of the universe's planets: the analytic isothermal formula.

Heng & Kitzmann 2017 (MNRAS 470, 2972), eq. (12): the transit radius of an isothermal,
hydrostatic atmosphere of constant opacity is

    R(λ) = R0 + H [γ + ln(P0 κ(λ) / g · sqrt(2π R0 / H))],   H = k T / (μ m_u g),  γ = 0.5772

with R0 the radius at the reference pressure P0 (here the surface), κ the opacity per unit
mass of atmosphere. κ(λ) = Σ_gas x_gas σ_gas(λ) / (μ m_u): the mixing-ratio-weighted band
cross-sections of `opacities.csv` (Gaussian bands of H2O, CO2, CH4, O2, O3, N2O) plus
Rayleigh scattering, σ_R = 5.1e-31 m² (λ / 532 nm)^-4 per N2 molecule — the cross-section
Sneep & Ubachs (2005, JQSRT 92, 293) measured at 532 nm — scaled by each gas's Rayleigh
cross-section relative to N2 (their Table 3 and Bucholtz 1995). Two opaque floors cut the formula: the surface
(R >= R0: where κ is so small that the formula dips below R0 the ground is seen) and a grey
cloud deck at pressure P_c, R >= R0 + H ln(P0 / P_c).

The transit depth is (R / R⋆)², with the host's radius interpolated from its effective
temperature on the main-sequence table of Pecaut & Mamajek (2013).
Everything is vectorised over planets: arrays `[planet]` in, `[planet, wavelength]` out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import UserError

K_B = 1.380649e-23  # J/K
M_U = 1.66053907e-27  # kg, atomic mass unit
EULER_GAMMA = 0.5772156649
R_EARTH = 6.371e6  # m
R_SUN = 6.957e8  # m
RAYLEIGH_N2 = 5.1e-31  # m² per N2 molecule at RAYLEIGH_REFERENCE_UM (Sneep & Ubachs 2005, cavity ring-down at 532 nm)
RAYLEIGH_REFERENCE_UM = 0.532
RAYLEIGH_RATIO = {"N2": 1.0, "O2": 0.86, "CO2": 2.5, "H2O": 0.77, "CH4": 2.2, "O3": 2.9, "N2O": 2.6}
DEFAULT_OPACITIES = Path(__file__).with_name("opacities.csv")
BAND_GASES = ("H2O", "CO2", "CH4", "O2", "O3", "N2O")

# Pecaut & Mamajek (2013) dwarf sequence, M8V … G2V: T_eff [K] → R [R_sun]
_MS_TEFF = np.array([2500.0, 2650, 2810, 3060, 3210, 3410, 3560, 3680, 3850, 4050, 4440, 4830, 5270, 5660, 5800])
_MS_RADIUS = np.array([0.11, 0.12, 0.14, 0.196, 0.274, 0.39, 0.446, 0.501, 0.588, 0.63, 0.68, 0.76, 0.85, 0.96, 1.0])


@dataclass(frozen=True)
class OpacityTable:
    """Gaussian absorption bands: one row per (gas, centre µm, width µm, peak cm²)."""

    gas: tuple[str, ...]
    centre: np.ndarray
    width: np.ndarray
    peak_m2: np.ndarray
    source: str

    @classmethod
    def from_csv(cls, path: str | Path = DEFAULT_OPACITIES) -> "OpacityTable":
        import pandas as pd

        try:
            table = pd.read_csv(path, comment="#")
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read the opacity table {path}: {exc}; point components.spectral.opacity_table at a CSV with gas,centre_um,width_um,peak_cm2") from None
        missing = {"gas", "centre_um", "width_um", "peak_cm2"} - set(table.columns)
        unknown = set(table.get("gas", [])) - set(BAND_GASES)
        bad = None
        if not missing:
            for column in ("centre_um", "width_um", "peak_cm2"):
                table[column] = pd.to_numeric(table[column], errors="coerce")  # text → NaN → reported
            values = table[["centre_um", "width_um", "peak_cm2"]]
            bad = ~(values.gt(0) & np.isfinite(values)).all(axis=1)
        if missing or unknown or (bad is not None and bad.any()):
            what = f"missing columns {sorted(missing)}" if missing else f"unknown gases {sorted(unknown)}" if unknown else f"row {int(np.flatnonzero(bad)[0]) + 1}: centre/width/peak missing, not a number or <= 0"
            raise UserError(f"opacity table {path}: {what}; columns gas,centre_um,width_um,peak_cm2 with gases among {BAND_GASES}, all values > 0")
        return cls(
            gas=tuple(table["gas"]),
            centre=table["centre_um"].to_numpy(float),
            width=table["width_um"].to_numpy(float),
            peak_m2=table["peak_cm2"].to_numpy(float) * 1e-4,
            source=str(path),
        )

    def cross_sections(self, wavelength_um: np.ndarray) -> dict[str, np.ndarray]:
        """{gas: σ(λ) in m² per molecule} on `wavelength_um` (gases without a band: zero)."""
        lam = np.asarray(wavelength_um, dtype=np.float64)
        out = {g: np.zeros_like(lam) for g in BAND_GASES}
        for gas, c, w, s in zip(self.gas, self.centre, self.width, self.peak_m2):
            out[gas] = out[gas] + s * np.exp(-0.5 * ((lam - c) / w) ** 2)
        return out


def scale_height(temperature, mu, gravity) -> np.ndarray:
    """H = k T / (μ m_u g) in m (T in K, μ in g/mol, g in m/s²)."""
    return K_B * np.asarray(temperature) / (np.asarray(mu) * M_U * np.asarray(gravity))


def stellar_radius(t_star) -> np.ndarray:
    """Main-sequence radius in m of a star of effective temperature `t_star` K (Pecaut & Mamajek 2013)."""
    return np.interp(np.asarray(t_star, dtype=np.float64), _MS_TEFF, _MS_RADIUS) * R_SUN


def opacity(wavelength_um: np.ndarray, mixing: dict[str, np.ndarray], mu: np.ndarray, table: OpacityTable) -> np.ndarray:
    """κ(λ) in m²/kg, `[planet, wavelength]`: bands + Rayleigh, weighted by the volume mixing ratios."""
    sigma = table.cross_sections(wavelength_um)
    rayleigh = RAYLEIGH_N2 * (np.asarray(wavelength_um) / RAYLEIGH_REFERENCE_UM) ** -4
    per_molecule = 0.0
    for gas in sorted(set(BAND_GASES) | set(RAYLEIGH_RATIO)):
        if gas not in mixing:
            continue
        x = np.asarray(mixing[gas], dtype=np.float64)[:, None]
        per_molecule = per_molecule + x * (sigma.get(gas, 0.0) + RAYLEIGH_RATIO.get(gas, 1.0) * rayleigh)
    return per_molecule / (np.asarray(mu, dtype=np.float64)[:, None] * M_U)


def transit_radius(wavelength_um, mixing, temperature, mu, gravity, radius_m, surface_pressure_pa, cloud_top_pressure_pa, table: OpacityTable) -> np.ndarray:
    """R(λ) in m, `[planet, wavelength]` (Heng & Kitzmann 2017 eq. 12, with surface and cloud floors)."""
    h = scale_height(temperature, mu, gravity)[:, None]
    r0 = np.asarray(radius_m, dtype=np.float64)[:, None]
    p0 = np.asarray(surface_pressure_pa, dtype=np.float64)[:, None]
    g = np.asarray(gravity, dtype=np.float64)[:, None]
    kappa = opacity(wavelength_um, mixing, mu, table)
    with np.errstate(divide="ignore"):
        radius = r0 + h * (EULER_GAMMA + np.log(p0 * kappa / g * np.sqrt(2.0 * np.pi * r0 / h)))
    deck = r0 + h * np.log(p0 / np.minimum(np.asarray(cloud_top_pressure_pa, dtype=np.float64)[:, None], p0))
    return np.maximum(radius, deck)


def transit_depth(wavelength_um, atmosphere: dict[str, np.ndarray], table: OpacityTable) -> np.ndarray:
    """(R(λ) / R⋆)² `[planet, wavelength]` for an atmosphere table (keys as in the universe's
    atmosphere: x_<gas>, mu, terminator_temperature, cloud_top_pressure; gravity, radius [R_earth],
    P0 [bar], T_star)."""
    a = {name: np.asarray(values, dtype=np.float64) for name, values in atmosphere.items()}
    mixing = {gas: a[f"x_{gas}"] for gas in RAYLEIGH_RATIO if f"x_{gas}" in a}
    radius = transit_radius(
        wavelength_um, mixing, a["terminator_temperature"], a["mu"], a["gravity"], a["radius"] * R_EARTH,
        a["P0"] * 1e5, a["cloud_top_pressure"], table,
    )
    return (radius / stellar_radius(a["T_star"])[:, None]) ** 2
