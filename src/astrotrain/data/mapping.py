"""From NASA Exoplanet Archive rows to the surrogate's 8 CLERO inputs, with flags.

| CLERO input | from the archive | when missing |
|---|---|---|
| F_star [W m-2] | pl_insol × 1361 (S⊕) | (st_rad)² (st_teff/5772)⁴ / a² × 1361, a = pl_orbsmax, else Kepler's third law from pl_orbper and st_mass |
| T_star [K] | st_teff | row rejected |
| radius [R⊕] | pl_rade | from pl_bmasse, Chen & Kipping (2017) mass-radius relation |
| gravity [m s-2] | 9.81 × pl_bmasse / pl_rade² | mass from radius, Chen & Kipping (2017) (only below 14.3 R⊕, where it is invertible) |
| P_rot [d] | the input CSV's `P_rot`, else pl_orbper (tidally locked: rotation = orbit, an assumption) | `clero.orbital_period(F_star, T_star)` |
| P0, CO2, CH4 | the input CSV's value or `_min`/`_max` prior bounds | the default atmosphere of the config (`data.archive.default_atmosphere`); `predict` draws the universe's prior |

Every row says what it rests on, in four columns:

* `imputed` — inputs derived rather than measured, with how: `F_star (L/a²)`, `radius (Chen &
  Kipping 2017)`, `gravity (mass: Chen & Kipping 2017)`, `gravity (archive M-R mass)` — the archive
  itself fills 2,883 of the snapshot's masses from a mass-radius relation (`pl_bmassprov`), which
  are no measurements either — and `P_rot (clero.orbital_period)`;
* `assumed` — `P_rot = orbital period (tidal locking)` for every planet whose rotation the input
  does not give;
* `caveats` — what the archive's flags say: a mass that is M sin i (`pl_bmassprov` Msini: a
  radial-velocity minimum mass, so the gravity is a lower bound; `msini` is true and `predict`
  marginalises the isotropic inclination prior, with the radius of each inclination's mass — a
  planet seen in radial velocity alone has no measured radius), and values that are upper or lower
  limits (`*lim`);
* `in_core_domain`, `in_extended_domain` — all 8 inputs inside CLERO's ranges.

Rows that cannot be mapped are returned with the reason; none is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..universe.sampling import PARAMETER_NAMES

SOLAR_CONSTANT = 1361.0  # W m-2 at 1 AU: F_star of 1 S⊕
EARTH_GRAVITY = 9.81  # m s-2
SUN_TEFF = 5772.0  # K (IAU 2015 nominal)
# Chen & Kipping (2017, ApJ 834, 17): R = C M^S per regime; M in Earth masses, R in Earth radii.
TERRAN = (1.008, 0.279, 2.04)  # C, S, upper mass
NEPTUNIAN = (0.808, 0.589, 131.6)  # up to 0.414 Jupiter masses
JOVIAN = (17.739, -0.044)


MASS_PROVENANCE = {"Mass": "measured", "Msin(i)/sin(i)": "measured (M sin i with i from the transit)", "Msini": "M sin i",
                   "M-R relationship": "archive mass-radius relation"}
LIMIT_FLAGS = {"pl_bmasselim": "pl_bmasse", "pl_radelim": "pl_rade", "pl_insollim": "pl_insol", "st_tefflim": "st_teff", "pl_orbperlim": "pl_orbper"}
ATMOSPHERE = ("P0", "CO2", "CH4")


@dataclass
class MappedPlanets:
    inputs: object  # pandas.DataFrame: pl_name, the 8 inputs, imputed, in_core_domain, in_extended_domain
    rejected: list[dict]


def radius_from_mass(mass):
    """Chen & Kipping (2017) mean radius (R⊕) for a mass (M⊕)."""
    m = np.asarray(mass, dtype=float)
    terran = TERRAN[0] * m ** TERRAN[1]
    neptunian = NEPTUNIAN[0] * m ** NEPTUNIAN[1]
    jovian = JOVIAN[0] * m ** JOVIAN[1]
    return np.where(m < TERRAN[2], terran, np.where(m < NEPTUNIAN[2], neptunian, jovian))


def mass_from_radius(radius):
    """Inverse of `radius_from_mass` where it is invertible (R < 14.3 R⊕); NaN above."""
    r = np.asarray(radius, dtype=float)
    r_terran_max = TERRAN[0] * TERRAN[2] ** TERRAN[1]
    r_neptunian_max = NEPTUNIAN[0] * NEPTUNIAN[2] ** NEPTUNIAN[1]
    terran = (r / TERRAN[0]) ** (1 / TERRAN[1])
    neptunian = (r / NEPTUNIAN[0]) ** (1 / NEPTUNIAN[1])
    return np.where(r < r_terran_max, terran, np.where(r < r_neptunian_max, neptunian, np.nan))


def instellation(st_teff, st_rad, orbsmax, orbper, st_mass):
    """F_star in W m-2 from stellar luminosity (Stefan-Boltzmann, R² T⁴) and the orbit (a, or Kepler's third law)."""
    luminosity = np.asarray(st_rad, float) ** 2 * (np.asarray(st_teff, float) / SUN_TEFF) ** 4  # L☉
    a_kepler = (np.asarray(st_mass, float) * (np.asarray(orbper, float) / 365.25) ** 2) ** (1 / 3)  # AU
    a = np.where(np.isfinite(orbsmax), orbsmax, a_kepler)
    return SOLAR_CONSTANT * luminosity / a**2


def in_domain(inputs, domain: dict) -> np.ndarray:
    ok = np.ones(len(inputs), dtype=bool)
    for name in PARAMETER_NAMES:
        lo, hi = domain[name]
        ok &= (inputs[name] >= lo).to_numpy() & (inputs[name] <= hi).to_numpy()
    return ok


def _column(f, name: str):
    """A column of the archive rows, or an all-missing one (a cached TAP table or a minimal export may lack it)."""
    import pandas as pd

    return f[name] if name in f else pd.Series([np.nan] * len(f), index=f.index)


def map_archive(frame, default_atmosphere: dict[str, float]) -> MappedPlanets:
    """Archive rows (`nasa.read_archive_csv(...).frame` or the cached table) → CLERO inputs + flags."""
    import clero
    import pandas as pd

    f = frame.reset_index(drop=True)
    mass_given, radius_given = f["pl_bmasse"].notna(), f["pl_rade"].notna()
    radius = f["pl_rade"].where(radius_given, radius_from_mass(f["pl_bmasse"]))
    mass = f["pl_bmasse"].where(mass_given, mass_from_radius(f["pl_rade"]))
    flux_given, orbit_given = f["pl_insol"].notna(), _column(f, "pl_orbsmax").notna()
    f_star = (f["pl_insol"] * SOLAR_CONSTANT).where(
        flux_given, instellation(f["st_teff"], _column(f, "st_rad"), _column(f, "pl_orbsmax"), f["pl_orbper"], _column(f, "st_mass"))
    )
    user_rotation = pd.to_numeric(_column(f, "P_rot"), errors="coerce")
    period_given = f["pl_orbper"].notna()
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = pd.Series(clero.orbital_period(f_star, f["st_teff"]))
    period = user_rotation.where(user_rotation.notna(), f["pl_orbper"].where(period_given, estimate))
    out = pd.DataFrame({
        "pl_name": f["pl_name"],
        "T_star": f["st_teff"],
        "F_star": f_star,
        "radius": radius,
        "gravity": EARTH_GRAVITY * mass / radius**2,
        "P_rot": period,
        **_atmosphere(f, default_atmosphere),
    })
    if "source_line" in f:  # the reader's line numbers travel with the rows (predict reports them)
        out.insert(1, "source_line", f["source_line"])
    provenance = _column(f, "pl_bmassprov").astype(object).where(_column(f, "pl_bmassprov").notna(), None)
    out["mass_provenance"] = [MASS_PROVENANCE.get(p, str(p)) if p is not None else ("Chen & Kipping 2017 from the radius" if not m else "unknown")
                              for p, m in zip(provenance, mass_given)]
    out["msini"] = (provenance == "Msini").to_numpy()
    out["imputed"] = [_imputed(*row) for row in zip(flux_given, orbit_given, radius_given, mass_given, provenance, user_rotation.notna(), period_given)]
    out["assumed"] = np.where(user_rotation.notna(), "", "P_rot = orbital period (tidal locking)")
    out["caveats"] = _caveats(f, out["msini"].to_numpy())
    reasons = _reasons(f, out)
    rejected = [
        {"pl_name": name, "line": int(line) if line == line else None, "reason": reason}
        for name, line, reason in zip(f["pl_name"], f.get("source_line", pd.Series([None] * len(f))), reasons)
        if reason
    ]
    keep = np.array([not r for r in reasons], dtype=bool)
    out = out[keep].reset_index(drop=True)
    out["in_core_domain"] = in_domain(out, clero.CORE_DOMAIN)
    out["in_extended_domain"] = in_domain(out, clero.EXTENDED_DOMAIN)
    return MappedPlanets(out, rejected)


def _atmosphere(f, default: dict[str, float]) -> dict:
    """P0, CO2, CH4 (the input's value, else the default) and the bounds of each planet's prior
    (`prior_<name>_min/_max`: the input's value twice, its own bounds, or NaN = the universe's prior)."""
    import pandas as pd

    out = {}
    for name in ATMOSPHERE:
        value = pd.to_numeric(_column(f, name), errors="coerce")
        lo, hi = (pd.to_numeric(_column(f, f"{name}_{b}"), errors="coerce") for b in ("min", "max"))
        out[name] = value.where(value.notna(), np.sqrt(lo * hi).where(lo.notna() & hi.notna(), float(default[name])))
        out[f"prior_{name}_min"] = value.where(value.notna(), lo)
        out[f"prior_{name}_max"] = value.where(value.notna(), hi)
    return out


def _imputed(flux, orbit, radius, mass, provenance, user_rotation, period) -> str:
    """What the mapping derived for one row, and how (module docstring)."""
    items = []
    if not flux:
        items.append("F_star (L/a²)" if orbit else "F_star (L, Kepler's third law)")
    if not radius:
        items.append("radius (Chen & Kipping 2017)")
    elif provenance == "Msini":  # no transit: the archive's radius is a mass-radius radius of the minimum mass
        items.append("radius (archive M-R radius of M sin i)")
    if not mass:
        items.append("gravity (mass: Chen & Kipping 2017)")
    elif provenance == "M-R relationship":
        items.append("gravity (archive M-R mass)")
    if not user_rotation and not period:
        items.append("P_rot (clero.orbital_period)")
    return "; ".join(items)


def _caveats(f, msini: np.ndarray) -> list[str]:
    out = []
    for i in range(len(f)):
        items = ["gravity is a lower bound: pl_bmasse is M sin i (inclination marginalised)"] if msini[i] else []
        for flag, column in LIMIT_FLAGS.items():
            value = _column(f, flag).iloc[i]
            if value == 1:
                items.append(f"{column} is an upper limit ({flag}=1)")
            elif value == -1:
                items.append(f"{column} is a lower limit ({flag}=-1)")
        out.append("; ".join(items))
    return out


def _reasons(f, out) -> list[str]:
    reasons = []
    for i in range(len(f)):
        row, mapped = f.iloc[i], out.iloc[i]
        why = []
        if not np.isfinite(row["st_teff"]):
            why.append("no st_teff (stellar temperature)")
        if not np.isfinite(row["pl_rade"]) and not np.isfinite(row["pl_bmasse"]):
            why.append("neither pl_rade nor pl_bmasse")
        elif not np.isfinite(mapped["gravity"]):
            why.append(f"no pl_bmasse and pl_rade={row['pl_rade']:g} R⊕ is beyond the invertible mass-radius range")
        if not np.isfinite(mapped["F_star"]):
            why.append("no pl_insol, and st_rad with pl_orbsmax (or pl_orbper with st_mass) to derive it")
        elif not np.isfinite(mapped["P_rot"]):
            why.append("no pl_orbper and no orbital-period estimate")
        reasons.append("; ".join(why))
    return reasons
