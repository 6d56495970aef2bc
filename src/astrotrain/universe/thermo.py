"""Thermodynamics of a planet's own atmosphere: dry-gas constants from its composition, and
water's liquid range at its surface pressure.

Dry-gas constants of an ideal-gas mixture with volume (= mole) fractions x_i of the dry gases:

    μ_dry = Σ x_i M_i,   c_p = Σ x_i c_p,i (molar),   κ = R / c_p,   ε = M_H2O / μ_dry

with standard molar masses (IUPAC 2021) and ideal-gas molar heat capacities at 298.15 K from
the NIST-JANAF thermochemical tables (Chase 1998). Earth air gives ε = 0.622 and κ = 0.286
(= 2/7), pure CO2 ε = 0.409 and κ = 0.224: a CO2 atmosphere is both heavier (a water molecule
weighs less against it) and softer (its bending modes store heat), which moves saturation
humidity and the dry adiabat.

The boiling point of water at pressure P is the saturation temperature of IAPWS-IF97
(Wagner et al. 2000, J. Eng. Gas Turbines Power 122, 150; the IAPWS Revised Release of
2007), region 4, eq. (31): the closed-form backward equation T_s(p), valid from the triple
point (611.657 Pa) to the critical point (22.064 MPa), exact to the release's verification
values (T_s = 372.755919 K at 0.1 MPa). 373.12 K at 1.01325 bar, 393.4 K at 2 bar, 425.0 K
at 5 bar; 354.5 K at 0.5 bar.
"""

from __future__ import annotations

import numpy as np

R_GAS = 8.314462618  # J mol-1 K-1
MOLAR_MASS = {  # g/mol
    "N2": 28.014, "O2": 31.998, "Ar": 39.948, "CO2": 44.009, "CH4": 16.043, "H2O": 18.015,
    "O3": 47.997, "N2O": 44.013, "CH3Cl": 50.488, "DMS": 62.134,
}
HEAT_CAPACITY = {  # J mol-1 K-1, ideal gas at 298.15 K (NIST-JANAF; DMS: Shimanouchi via NIST WebBook)
    "N2": 29.124, "O2": 29.378, "Ar": 20.786, "CO2": 37.135, "CH4": 35.695, "H2O": 33.590,
    "O3": 39.238, "N2O": 38.617, "CH3Cl": 40.75, "DMS": 74.10,
}
EARTH_AIR = {"N2": 0.7808, "O2": 0.2095, "Ar": 0.0093, "CO2": 0.0004}  # dry volume fractions (US Standard Atmosphere 1976)
MELTING_POINT_K = 273.15  # water's freezing point; moves by < 0.01 K per bar (Clausius-Clapeyron for ice)

# IAPWS-IF97 region 4 coefficients n1 … n10 (eq. 30/31)
_IF97 = (
    0.11670521452767e4, -0.72421316703206e6, -0.17073846940092e2, 0.12020824702470e5, -0.32325550322333e7,
    0.14915108613530e2, -0.48232657361591e4, 0.40511340542057e6, -0.23855557567849, 0.65017534844798e3,
)
TRIPLE_POINT_PA = 611.657
CRITICAL_POINT_PA = 22.064e6


def dry_constants(mixing: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """μ_dry [g/mol], c_p [J mol-1 K-1], κ and ε of the dry gases in `mixing` ({gas: volume fraction}).

    H2O is left out (it is the condensable); the remaining fractions are renormalised, so a moist
    inventory and its dry part give the same constants. Unknown gases are an error.
    """
    unknown = set(mixing) - set(MOLAR_MASS)
    if unknown:
        raise KeyError(f"no thermodynamic data for {sorted(unknown)}; known: {sorted(MOLAR_MASS)}")
    dry = {g: np.asarray(x, dtype=np.float64) for g, x in mixing.items() if g != "H2O"}
    total = sum(dry.values())
    mu = sum(MOLAR_MASS[g] * x for g, x in dry.items()) / total
    cp = sum(HEAT_CAPACITY[g] * x for g, x in dry.items()) / total
    return {"mu_dry": mu, "cp_dry": cp, "kappa": R_GAS / cp, "epsilon": MOLAR_MASS["H2O"] / mu}


def boiling_point(pressure_pa) -> np.ndarray:
    """Saturation temperature of water [K] at `pressure_pa` (IAPWS-IF97 eq. 31), vectorised.

    Outside the liquid-vapour curve: below the triple point there is no liquid (NaN), above the
    critical point no boiling (the critical temperature, 647.096 K, bounds the liquid).
    """
    p = np.asarray(pressure_pa, dtype=np.float64)
    n1, n2, n3, n4, n5, n6, n7, n8, n9, n10 = _IF97
    beta = (np.clip(p, TRIPLE_POINT_PA, CRITICAL_POINT_PA) / 1e6) ** 0.25
    e = beta**2 + n3 * beta + n6
    f = n1 * beta**2 + n4 * beta + n7
    g = n2 * beta**2 + n5 * beta + n8
    d = 2.0 * g / (-f - np.sqrt(f**2 - 4.0 * e * g))
    t = 0.5 * (n10 + d - np.sqrt((n10 + d) ** 2 - 4.0 * (n9 + n10 * d)))
    return np.where(p < TRIPLE_POINT_PA, np.nan, t)


def liquid_water_range(surface_pressure_bar) -> tuple[float, np.ndarray]:
    """(freezing, boiling) point [K] of surface water at `surface_pressure_bar`: the habitable window."""
    return MELTING_POINT_K, boiling_point(np.asarray(surface_pressure_bar, dtype=np.float64) * 1e5)
