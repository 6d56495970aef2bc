"""Biosphere and gas inventory of each universe planet (DESIGN.md, "The data universe").

Every planet gets one *scenario*, drawn from its climate with a seeded generator:

* **inhabited** with probability P(life | h) = P_MAX · (1 − exp(−h / H_SCALE)), h the habitable
  surface fraction (0 for a planet without liquid-water surface: no life). Of the inhabited,
  a share `OXYGENIC_SHARE` has oxygenic photosynthesis (O2, hence O3; modern Earth's biosphere)
  and the rest an anoxic one (Archean-like: no O2; N2O, CH3Cl, DMS at low levels) — a
  biosphere without an O2 signature, so that "no O2" does not mean "no life".
* otherwise **abiotic**, with two documented false-positive channels for O2:
  - *water loss*: photolysis of H2O and H escape leave O2 behind — on moist-greenhouse planets
    (Wordsworth & Pierrehumbert 2014) and around M dwarfs, whose long pre-main-sequence phase
    desiccates planets that are temperate today (Luger & Barnes 2015). O2 can be large.
  - *CO2 photolysis* on CO2-rich planets of M dwarfs (weak far-UV recombination catalysts;
    Hu et al. 2012, Gao et al. 2015): O2 of 1e-4-1e-2.
  Volcanic CH4 needs no channel of its own: the climate parameters already give abiotic
  planets CH4 up to 5 %, so CH4 alone is never proof of life.

Abundances are volume mixing ratios of the whole (moist) atmosphere: the dry atmosphere —
CO2 and CH4 as the planet's CLERO parameters (never changed: the climate was computed with
them), the gases below, N2 filling the rest — diluted by the H2O from the datacube's
terminator humidity (`terminator.py`, converted with the planet's own dry μ): x_gas = x_gas,dry · (1 − x_H2O). Biosignature ranges (log-uniform):

| gas | oxygenic biosphere | anoxic biosphere | Earth today | source of the range |
|---|---|---|---|---|
| O2 | 1e-3 … 0.3 | — | 0.21 | Proterozoic (~1 % PAL) to above modern (Lyons et al. 2014) |
| N2O | 1e-8 … 1e-6 | 1e-9 … 1e-7 | 3.3e-7 | Earth ×0.03-3; Schwieterman et al. 2018 |
| CH3Cl | 1e-10 … 1e-8 | 1e-11 … 1e-9 | 5e-10 | Segura et al. 2005 (×20 fluxes) |
| DMS | 1e-11 … 1e-9 | 1e-12 … 1e-10 | ~1e-10 (surface) | Domagal-Goldman et al. 2011 |

O3 follows O2 by the photochemical scaling x_O3 = 3e-7 · (x_O2 / 0.21)^0.5 (ozone column's
square-root dependence above ~1 % PAL, Kasting & Donahue 1980; Segura et al. 2003), with
0.2 dex log-normal scatter for the star's UV. Abiotic O2: water loss 1e-3 … 0.5, CO2
photolysis 1e-4 … 1e-2; O2 is capped so that N2 keeps >= 1 % of the dry atmosphere.
"""

from __future__ import annotations

import numpy as np

from .terminator import h2o_volume_fraction

P_MAX = 0.8  # P(life) of a planet whose whole surface is habitable (h → 1)
H_SCALE = 0.15  # habitable fraction at which P(life) reaches 63 % of P_MAX
OXYGENIC_SHARE = 0.7  # inhabited planets with an oxygenic biosphere
M_DWARF_T_STAR = 3900.0  # K: hosts below this have a long, desiccating pre-main-sequence phase
P_WATER_LOSS_HOT = 0.6  # abiotic moist-greenhouse planets with water-loss O2
P_WATER_LOSS_M_DWARF = 0.25  # other abiotic M-dwarf planets with water-loss O2
P_PHOTOLYSIS = 0.5  # abiotic M-dwarf planets with CO2 >= 1 % that build photolytic O2
MIN_N2 = 0.01  # N2 kept in every atmosphere (caps O2)

GASES = ("N2", "CO2", "CH4", "H2O", "O2", "O3", "N2O", "CH3Cl", "DMS")
MOLAR_MASS = {"N2": 28.014, "CO2": 44.01, "CH4": 16.043, "H2O": 18.015, "O2": 31.998, "O3": 47.997, "N2O": 44.013, "CH3Cl": 50.49, "DMS": 62.13}
SCENARIOS = ("abiotic", "inhabited_oxygenic", "inhabited_anoxic", "abiotic_water_loss_o2", "abiotic_photolysis_o2")

_BIOGENIC = {  # gas: (oxygenic range, anoxic range), log-uniform volume mixing ratios
    "N2O": ((1e-8, 1e-6), (1e-9, 1e-7)),
    "CH3Cl": ((1e-10, 1e-8), (1e-11, 1e-9)),
    "DMS": ((1e-11, 1e-9), (1e-12, 1e-10)),
}


def life_probability(habitable_fraction: np.ndarray) -> np.ndarray:
    """P(biosphere | habitable surface fraction h) = P_MAX (1 − exp(−h / H_SCALE)); 0 at h = 0."""
    h = np.clip(np.asarray(habitable_fraction, dtype=np.float64), 0.0, 1.0)
    return P_MAX * (1.0 - np.exp(-h / H_SCALE))


def ozone_from_oxygen(x_o2: np.ndarray, scatter_dex: np.ndarray | float = 0.0) -> np.ndarray:
    """Photochemical O3 mixing ratio of an O2 atmosphere (square-root scaling, module docstring)."""
    return np.where(x_o2 > 0, 3e-7 * np.sqrt(np.maximum(x_o2, 0.0) / 0.21) * 10.0**scatter_dex, 0.0)


def mean_molecular_weight(mixing: dict[str, np.ndarray]) -> np.ndarray:
    """μ in g/mol of an atmosphere given as {gas: volume mixing ratio}."""
    return sum(MOLAR_MASS[g] * np.asarray(mixing[g]) for g in GASES)


def draw_atmospheres(params: dict[str, np.ndarray], habitable_fraction, climate_state_names, specific_humidity, seed: int) -> dict[str, np.ndarray]:
    """Scenario, biosphere flag and mixing ratios of every planet (one seeded stream, planet order)."""
    rng = np.random.default_rng([seed, 0xB105])
    n = len(habitable_fraction)
    u_life, u_oxy, u_fp, u_channel = rng.random((4, n))
    inhabited = u_life < life_probability(habitable_fraction)
    oxygenic = inhabited & (u_oxy < OXYGENIC_SHARE)
    m_dwarf = np.asarray(params["T_star"]) < M_DWARF_T_STAR
    hot = np.isin(np.asarray(climate_state_names), ["moist_greenhouse", "runaway_greenhouse"])
    co2 = np.asarray(params["CO2"], dtype=np.float64)
    p_water_loss = np.where(hot, P_WATER_LOSS_HOT, np.where(m_dwarf, P_WATER_LOSS_M_DWARF, 0.0))
    water_loss = ~inhabited & (u_fp < p_water_loss)
    photolysis = ~inhabited & ~water_loss & m_dwarf & (co2 >= 0.01) & (u_channel < P_PHOTOLYSIS)

    def log_uniform(lo, hi):
        return 10.0 ** rng.uniform(np.log10(lo), np.log10(hi), n)

    x = {g: np.zeros(n) for g in GASES}
    x["CO2"], x["CH4"] = co2, np.asarray(params["CH4"], dtype=np.float64)
    o2 = np.where(oxygenic, log_uniform(1e-3, 0.3), 0.0)
    o2 = np.where(water_loss, log_uniform(1e-3, 0.5), o2)
    o2 = np.where(photolysis, log_uniform(1e-4, 1e-2), o2)
    room = np.maximum(1.0 - MIN_N2 - x["CO2"] - x["CH4"], 0.0)
    x["O2"] = np.minimum(o2, room)
    x["O3"] = ozone_from_oxygen(x["O2"], rng.normal(0.0, 0.2, n))
    for gas, (oxy_range, anoxic_range) in _BIOGENIC.items():
        x[gas] = np.where(oxygenic, log_uniform(*oxy_range), np.where(inhabited, log_uniform(*anoxic_range), 0.0))
    x["N2"] = np.maximum(1.0 - sum(x[g] for g in GASES if g not in ("N2", "H2O")), 0.0)
    mu_dry = sum(MOLAR_MASS[g] * x[g] for g in GASES if g != "H2O")
    h2o = h2o_volume_fraction(np.clip(np.asarray(specific_humidity, dtype=np.float64), 0.0, 0.999), mu_dry)
    x = {g: v * (1.0 - h2o) for g, v in x.items()}
    x["H2O"] = h2o
    scenario = np.select(
        [oxygenic, inhabited, water_loss, photolysis], [SCENARIOS[1], SCENARIOS[2], SCENARIOS[3], SCENARIOS[4]], SCENARIOS[0]
    )
    return {"biosphere": inhabited, "scenario": scenario, **{f"x_{g}": x[g] for g in GASES}, "mu": mean_molecular_weight(x)}
