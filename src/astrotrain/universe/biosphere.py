"""Biosphere and gas inventory of each universe planet (DESIGN.md, "The data universe").

Every planet gets one *scenario*, drawn from its climate with a seeded generator:

* **inhabited** with probability P(life | h) = P_MAX · (1 − exp(−h / H_SCALE)), h the habitable
  surface fraction (0 for a planet without liquid-water surface: no life). Of the inhabited,
  a share `OXYGENIC_SHARE` has oxygenic photosynthesis (O2, hence O3; modern Earth's biosphere)
  and the rest an anoxic one (Archean-like: no O2; N2O, CH3Cl, DMS at low levels) — a
  biosphere without an O2 signature, so that "no O2" does not mean "no life".
* otherwise **abiotic**. No "biosignature" gas is the biosphere's alone: every one has an
  abiotic channel documented in the literature, drawn independently per planet, whose range
  overlaps the low end of the biological one, so that no single gas decides the label
  (Schwieterman et al. 2018, Astrobiology 18, 663, review the false positives):
  - *water loss O2*: photolysis of H2O and H escape leave O2 behind — on moist-greenhouse
    planets (Wordsworth & Pierrehumbert 2014) and around M dwarfs, whose long pre-main-sequence
    phase desiccates planets that are temperate today (Luger & Barnes 2015). O2 can be large.
  - *CO2-photolysis O2* on CO2-rich planets of M dwarfs (weak far-UV recombination catalysts;
    Hu et al. 2012, Gao et al. 2015): O2 of 1e-4-1e-2.
  - *abiotic N2O*: energetic particles of active young (and M-dwarf) hosts break N2 in CO2/N2
    air (Airapetian et al. 2016, Nat. Geosci. 9, 452), and chemodenitrification of nitrate on
    Fe(II)-bearing wet surfaces (Samarkin et al. 2010, Nat. Geosci. 3, 341): 1e-10 … 3e-8.
  - *abiotic CH3Cl*: volcanic and hydrothermal halocarbons (Frische et al. 2006, Atmos. Chem.
    Phys. 6, 1781) and halide oxidation of organic matter (Keppler et al. 2000, Nature 403,
    298): 1e-12 … 3e-10.
  - *abiotic DMS*: UV photochemistry of H2S with CH4 (Reed et al. 2024, ApJL 973, L38; DMS is
    also found in comet 67P, Hänni et al. 2024): 1e-13 … 1e-10, on CH4-bearing (>= 1e-4) planets.
  Volcanic CH4 needs no channel of its own: the climate parameters already give abiotic
  planets CH4 up to 5 %, so CH4 alone is never proof of life.

Abundances are volume mixing ratios of the whole (moist) atmosphere: the dry atmosphere —
CO2 and CH4 as the planet's CLERO parameters (never changed: the climate was computed with
them), the gases below, N2 filling the rest — diluted by the H2O from the datacube's
terminator humidity (`terminator.py`, converted with the planet's own dry μ): x_gas = x_gas,dry · (1 − x_H2O). Biosignature ranges (log-uniform):

| gas | oxygenic biosphere (share making it) | anoxic biosphere (share) | abiotic channel (share of planets) | Earth today | source of the biological range |
|---|---|---|---|---|---|
| O2 | 1e-3 … 0.3 (all) | — | water loss 1e-3 … 0.5, CO2 photolysis 1e-4 … 1e-2 (above) | 0.21 | Proterozoic (~1 % PAL) to above modern (Lyons et al. 2014) |
| N2O | 1e-8 … 1e-6 (90 %) | 1e-9 … 1e-7 (50 %) | 1e-10 … 3e-8 (60 % around M dwarfs, 30 % else) | 3.3e-7 | Earth ×0.03-3; Schwieterman et al. 2018 |
| CH3Cl | 1e-10 … 1e-8 (70 %) | 1e-11 … 1e-9 (30 %) | 1e-12 … 3e-10 (40 %) | 5e-10 | Segura et al. 2005 (×20 fluxes) |
| DMS | 1e-11 … 1e-9 (60 %) | 1e-12 … 1e-10 (30 %) | 1e-13 … 1e-10 (50 % of CH4 >= 1e-4) | ~1e-10 (surface) | Domagal-Goldman et al. 2011 |

Not every biosphere makes every gas — a model assumption, with its reasons: N2O is the leak of
denitrification, whose yield depends on the Cu that N2O reductase needs (Buick 2007,
Geobiology 5, 97); CH3Cl comes from particular halogenating organisms (tropical plants, fungi,
algae) and DMS from DMSP-making marine eukaryotes, so anoxic, microbial biospheres are assumed
to make them less often. The abiotic channels act on every planet, inhabited or not (the
biological production adds to them). On 20,000 drawn planets no true gas alone separates the
inhabited from the abiotic beyond a ROC-AUC of ~0.87 (tested: <= 0.92).

O3 follows O2 by the photochemical scaling x_O3 = 3e-7 · (x_O2 / 0.21)^0.5 (ozone column's
square-root dependence above ~1 % PAL, Kasting & Donahue 1980; Segura et al. 2003), with
0.2 dex log-normal scatter for the star's UV. O2 is capped so that N2 keeps >= 1 % of the dry
atmosphere. The dry gases' thermodynamic constants (μ_dry, c_p, κ = R/c_p, ε = M_H2O/μ_dry;
`thermo.py`) are stored with the inventory: the datacube's humidity and stability physics use them.
"""

from __future__ import annotations

import numpy as np

from .terminator import h2o_volume_fraction
from .thermo import MOLAR_MASS, dry_constants

P_MAX = 0.8  # P(life) of a planet whose whole surface is habitable (h → 1)
H_SCALE = 0.15  # habitable fraction at which P(life) reaches 63 % of P_MAX
OXYGENIC_SHARE = 0.7  # inhabited planets with an oxygenic biosphere
M_DWARF_T_STAR = 3900.0  # K: hosts below this have a long, desiccating pre-main-sequence phase
P_WATER_LOSS_HOT = 0.6  # abiotic moist-greenhouse planets with water-loss O2
P_WATER_LOSS_M_DWARF = 0.25  # other abiotic M-dwarf planets with water-loss O2
P_PHOTOLYSIS = 0.5  # abiotic M-dwarf planets with CO2 >= 1 % that build photolytic O2
MIN_N2 = 0.01  # N2 kept in every atmosphere (caps O2)

GASES = ("N2", "CO2", "CH4", "H2O", "O2", "O3", "N2O", "CH3Cl", "DMS")
SCENARIOS = ("abiotic", "inhabited_oxygenic", "inhabited_anoxic", "abiotic_water_loss_o2", "abiotic_photolysis_o2")

_BIOGENIC = {  # gas: (oxygenic range, anoxic range), log-uniform volume mixing ratios, and the share of each that makes it
    "N2O": ((1e-8, 1e-6), (1e-9, 1e-7), 0.9, 0.5),
    "CH3Cl": ((1e-10, 1e-8), (1e-11, 1e-9), 0.7, 0.3),
    "DMS": ((1e-11, 1e-9), (1e-12, 1e-10), 0.6, 0.3),
}
_ABIOTIC = {  # gas: (range, share of planets around M dwarfs, share around other hosts); module docstring
    "N2O": ((1e-10, 3e-8), 0.6, 0.3),
    "CH3Cl": ((1e-12, 3e-10), 0.4, 0.4),
    "DMS": ((1e-13, 1e-10), 0.5, 0.5),
}
DMS_CH4_MIN = 1e-4  # abiotic DMS needs a CH4-bearing atmosphere (photochemistry of H2S with CH4)


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
    for gas, (oxy_range, anoxic_range, oxy_share, anoxic_share) in _BIOGENIC.items():
        makes = rng.random(n) < np.where(oxygenic, oxy_share, anoxic_share)
        biogenic = np.where(oxygenic, log_uniform(*oxy_range), np.where(inhabited, log_uniform(*anoxic_range), 0.0))
        abiotic_range, share_m_dwarf, share_other = _ABIOTIC[gas]
        eligible = x["CH4"] >= DMS_CH4_MIN if gas == "DMS" else np.ones(n, dtype=bool)
        channel = eligible & (rng.random(n) < np.where(m_dwarf, share_m_dwarf, share_other))
        x[gas] = np.where(inhabited & makes, biogenic, 0.0) + np.where(channel, log_uniform(*abiotic_range), 0.0)
    x["N2"] = np.maximum(1.0 - sum(x[g] for g in GASES if g not in ("N2", "H2O")), 0.0)
    dry = dry_constants({g: x[g] for g in GASES})
    h2o = h2o_volume_fraction(np.clip(np.asarray(specific_humidity, dtype=np.float64), 0.0, 0.999), dry["mu_dry"])
    x = {g: v * (1.0 - h2o) for g, v in x.items()}
    x["H2O"] = h2o
    scenario = np.select(
        [oxygenic, inhabited, water_loss, photolysis], [SCENARIOS[1], SCENARIOS[2], SCENARIOS[3], SCENARIOS[4]], SCENARIOS[0]
    )
    return {"biosphere": inhabited, "scenario": scenario, **{f"x_{g}": x[g] for g in GASES}, "mu": mean_molecular_weight(x), **dry}
