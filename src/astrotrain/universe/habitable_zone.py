"""Where an emulator cannot speak: the documented climate limits of the habitable zone.

The effective instellation S_eff = F⋆ / S⊕ (S⊕ = 1361 W m⁻²) at which a water-rich planet
crosses a climate limit, as a quartic in T* = T_eff − 5780 K (Kopparapu et al. 2013, ApJ 765, 131,
eq. 2; coefficients of Kopparapu et al. 2014, ApJL 787, L29, Table 1, valid 2600-7200 K):

    S_eff = S_eff,⊙ + a T* + b T*² + c T*³ + d T*⁴

* **runaway greenhouse** (the inner edge) — depends on the planet's mass: a heavier planet's
  higher gravity thins its water column, so it runs away at a larger instellation. Coefficients
  for 0.1, 1 and 5 M⊕; between them, S_eff is interpolated in log mass, and held at the end
  values outside;
* **maximum greenhouse** (the outer edge) — beyond it no CO2 greenhouse keeps the surface above
  freezing (CO2 condenses and Rayleigh-scatters more than it warms): a snowball.

**Synchronous rotators.** These 1D limits are for fast rotators. A tidally locked, slowly
rotating planet builds a thick substellar cloud deck that raises its albedo and pushes its inner
edge to larger instellation (Yang, Cowan & Abbot 2013, ApJL 771, L45: up to about twice the
stellar flux); faster synchronous rotators around late M dwarfs keep less of that shift
(Kopparapu et al. 2016, ApJ 819, 84). `SYNCHRONOUS_CLOUD_SHIFT` multiplies the runaway limit of a
tidally locked planet — 1.5, between the two, an approximation stated as such wherever it is used.
"""

from __future__ import annotations

import numpy as np

SOLAR_FLUX = 1361.0  # W m-2
T_SUN = 5780.0  # K, the reference of the fits
SYNCHRONOUS_CLOUD_SHIFT = 1.5  # runaway limit of a tidally locked planet / that of a fast rotator (docstring)
FIT_TEFF_RANGE = (2600.0, 7200.0)

# (S_eff,⊙, a, b, c, d) — Kopparapu et al. 2014, Table 1
RUNAWAY = {
    0.1: (0.990, 1.209e-4, 1.404e-8, -7.418e-12, -1.713e-15),
    1.0: (1.107, 1.332e-4, 1.580e-8, -8.308e-12, -1.931e-15),
    5.0: (1.188, 1.433e-4, 1.707e-8, -8.968e-12, -2.084e-15),
}
MAXIMUM_GREENHOUSE = (0.356, 6.171e-5, 1.698e-9, -3.198e-12, -5.575e-16)


def _quartic(coefficients, t_eff) -> np.ndarray:
    s, a, b, c, d = coefficients
    t = np.clip(np.asarray(t_eff, dtype=np.float64), *FIT_TEFF_RANGE) - T_SUN
    return s + a * t + b * t**2 + c * t**3 + d * t**4


def runaway_limit(t_eff, planet_mass_earth, synchronous: bool = True) -> np.ndarray:
    """S_eff of the runaway-greenhouse limit for the host's T_eff [K] and the planet's mass [M⊕]
    (× SYNCHRONOUS_CLOUD_SHIFT for a tidally locked planet)."""
    t_eff, mass = np.broadcast_arrays(np.asarray(t_eff, dtype=np.float64), np.asarray(planet_mass_earth, dtype=np.float64))
    log_masses = np.log10(sorted(RUNAWAY))
    limits = np.stack([_quartic(RUNAWAY[m], t_eff) for m in sorted(RUNAWAY)], axis=-1)  # [..., 3]
    log_m = np.clip(np.log10(mass), log_masses[0], log_masses[-1])
    upper = np.clip(np.searchsorted(log_masses, log_m, side="right"), 1, len(log_masses) - 1)
    w = (log_m - log_masses[upper - 1]) / (log_masses[upper] - log_masses[upper - 1])
    pick = lambda k: np.take_along_axis(limits, k[..., None], axis=-1)[..., 0]  # noqa: E731 - the limit at fitted mass k
    s_eff = (1.0 - w) * pick(upper - 1) + w * pick(upper)
    return s_eff * (SYNCHRONOUS_CLOUD_SHIFT if synchronous else 1.0)


def maximum_greenhouse_limit(t_eff) -> np.ndarray:
    """S_eff of the maximum-greenhouse (outer) limit for the host's T_eff [K]."""
    return _quartic(MAXIMUM_GREENHOUSE, t_eff)


def climate_limit(f_star, t_eff, planet_mass_earth, synchronous: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per planet: "runaway" (beyond the inner limit), "frozen" (beyond the outer one) or "" (between),
    and S_eff = F⋆ / S⊕."""
    s_eff = np.asarray(f_star, dtype=np.float64) / SOLAR_FLUX
    runaway = s_eff > runaway_limit(t_eff, planet_mass_earth, synchronous)
    frozen = s_eff < maximum_greenhouse_limit(t_eff)
    return np.where(runaway, "runaway", np.where(frozen, "frozen", "")), s_eff
