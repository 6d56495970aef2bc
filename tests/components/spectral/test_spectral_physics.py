"""The transmission forward model as physics: Heng & Kitzmann's formula, bands, Rayleigh slope, clouds, binning."""

from __future__ import annotations

import math

import numpy as np
import pytest

from astrotrain.components.spectral.forward import (
    BAND_GASES,
    EULER_GAMMA,
    K_B,
    M_U,
    R_EARTH,
    OpacityTable,
    scale_height,
    stellar_radius,
    transit_radius,
)
from astrotrain.components.spectral.instrument import Instrument, binning_matrix

TABLE = OpacityTable.from_csv()
LAM = np.exp(np.linspace(np.log(0.5), np.log(20.0), 3000))


def earth_like(temperature=250.0, mu=28.97, cloud_top=None, **mixing):
    x = {"N2": np.array([1.0 - sum(mixing.values())]), **{g: np.array([v]) for g, v in mixing.items()}}
    p0 = 1e5
    return transit_radius(LAM, x, np.array([temperature]), np.array([mu]), np.array([9.81]), np.array([R_EARTH]),
                          np.array([p0]), np.array([cloud_top or p0]), TABLE)[0]


def test_radius_matches_heng_kitzmann_eq12_at_a_band_centre():
    lam = np.array([4.3])
    x = {"N2": np.array([0.999]), "CO2": np.array([1e-3])}
    r = transit_radius(lam, x, np.array([280.0]), np.array([29.0]), np.array([9.81]), np.array([R_EARTH]), np.array([1e5]), np.array([1e5]), TABLE)[0, 0]
    # the formula written out by hand for this one point
    h = K_B * 280.0 / (29.0 * M_U * 9.81)
    sigma_co2 = sum(p * math.exp(-0.5 * ((4.3 - c) / w) ** 2) for g, c, w, p in zip(TABLE.gas, TABLE.centre, TABLE.width, TABLE.peak_m2) if g == "CO2")
    rayleigh = 5.1e-31 * (4.3 / 0.532) ** -4 * (0.999 * 1.0 + 1e-3 * 2.5)
    kappa = (1e-3 * sigma_co2 + rayleigh) / (29.0 * M_U)
    expected = R_EARTH + h * (EULER_GAMMA + math.log(1e5 * kappa / 9.81 * math.sqrt(2 * math.pi * R_EARTH / h)))
    assert r == pytest.approx(expected, rel=1e-12)
    assert h == pytest.approx(8.19e3, rel=0.01)  # Earth-like: ~8 km


def test_rayleigh_cross_section_is_sneep_and_ubachs_value_at_532_nm():
    """N2's measured Rayleigh cross-section, 5.1e-27 cm² at 532 nm (Sneep & Ubachs 2005), scales as λ^-4."""
    from astrotrain.components.spectral.forward import opacity

    mu = np.array([28.014])
    per_molecule = opacity(np.array([0.532, 0.55, 1.064]), {"N2": np.array([1.0])}, mu, OpacityTable((), np.zeros(0), np.zeros(0), np.zeros(0), "none"))[0] * mu[0] * M_U
    np.testing.assert_allclose(per_molecule[0], 5.1e-31, rtol=1e-12)
    np.testing.assert_allclose(per_molecule[1], 5.1e-31 * (0.532 / 0.55) ** 4, rtol=1e-12)  # 4.46e-31 m² at 550 nm, not 5.1e-31
    np.testing.assert_allclose(per_molecule[0] / per_molecule[2], 16.0, rtol=1e-12)  # one octave: 2^4


def test_doubling_temperature_doubles_the_feature_amplitude():
    """R − R0 = H (…): at fixed κ the band-to-continuum contrast is H ln(κ_band/κ_cont), ∝ T."""
    cold, hot = earth_like(200.0, CO2=1e-3, H2O=1e-3), earth_like(400.0, CO2=1e-3, H2O=1e-3)
    band, continuum = np.argmin(abs(LAM - 4.3)), np.argmin(abs(LAM - 1.05))
    amp_cold, amp_hot = cold[band] - cold[continuum], hot[band] - hot[continuum]
    assert amp_cold > 5 * scale_height(200.0, 28.97, 9.81)  # a real feature, several H
    assert amp_hot / amp_cold == pytest.approx(2.0, rel=1e-9)


def test_pure_rayleigh_slope_is_minus_four_scale_heights():
    """dR/d ln λ = −4H for a λ^-4 opacity (Lecavelier des Etangs et al. 2008)."""
    r = earth_like(300.0)
    slope = np.gradient(r, np.log(LAM))
    h = scale_height(300.0, 28.97, 9.81)
    visible = (LAM > 0.5) & (LAM < 0.85)  # above the surface floor (reached near 1 µm at 1 bar)
    np.testing.assert_allclose(slope[visible][5:-5], -4 * h, rtol=1e-6)


@pytest.mark.parametrize("gas", BAND_GASES)
def test_a_band_appears_only_when_its_gas_is_present(gas):
    # μ is held fixed (an argument): the comparison isolates the gas's opacity
    without = earth_like(280.0, **{gas: 0.0})
    present = earth_like(280.0, **{gas: 0.01 if gas in ("O2", "CO2") else 1e-4})
    rows = [i for i, g in enumerate(TABLE.gas) if g == gas]
    near = np.zeros_like(LAM, dtype=bool)
    for i in rows:
        near |= np.abs(LAM - TABLE.centre[i]) < 8 * TABLE.width[i]
    strongest = rows[int(np.argmax(TABLE.peak_m2[rows] * (TABLE.centre[rows] >= 0.5)))]
    centre = np.argmin(abs(LAM - TABLE.centre[strongest]))
    h = scale_height(280.0, 28.97, 9.81)
    assert present[centre] - without[centre] > 0.5 * h, "the gas's strongest band rises above the gas-free spectrum"
    # away from its bands the gas only adds its (tiny) Rayleigh share
    assert (~near).sum() > 100
    assert np.max(np.abs(present[~near] - without[~near])) < 0.05 * h


def test_cloud_deck_flattens_the_spectrum_and_the_surface_is_a_floor():
    clear = earth_like(280.0, CO2=1e-3)
    cloudy = earth_like(280.0, CO2=1e-3, cloud_top=1e3)  # deck at 10 mbar
    h = scale_height(280.0, 28.97, 9.81)
    deck = R_EARTH + h * math.log(1e5 / 1e3)
    assert cloudy.min() == pytest.approx(deck, rel=1e-12)
    np.testing.assert_allclose(cloudy, np.maximum(clear, deck))
    assert clear.min() >= R_EARTH


def test_instrument_bins_average_and_count_as_resolving_power_says():
    inst = Instrument("t", 1.0, 5.0, 100.0, 10.0)
    assert len(inst.wavelength) == math.ceil(100 * math.log(5.0))
    edges = inst.edges
    np.testing.assert_allclose(np.diff(np.log(edges)), np.log(5.0) / len(inst.wavelength))
    native = inst.native_grid()
    matrix = binning_matrix(native, edges)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    np.testing.assert_allclose(inst.bin(native, np.full((2, len(native)), 3e-4)), 3e-4)  # a flat spectrum stays flat
    linear = inst.bin(native, native[None, :])[0]  # the mean of λ in a narrow bin ≈ its centre
    np.testing.assert_allclose(linear, inst.wavelength, rtol=5e-4)  # within half a native step


def test_stellar_radius_follows_the_main_sequence():
    assert stellar_radius(5800.0) / 6.957e8 == pytest.approx(1.0, abs=0.02)
    assert stellar_radius(3000.0) / 6.957e8 == pytest.approx(0.18, abs=0.03)
    t = np.linspace(2500, 5800, 50)
    assert np.all(np.diff(stellar_radius(t)) > 0)
