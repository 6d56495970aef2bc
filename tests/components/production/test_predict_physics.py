"""What `predict` rests on, as physics: the habitable-zone limits, the map readout, the draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from astrotrain.components.production.draws import MEDIAN_SIN_I, msini_point, planet_draws
from astrotrain.components.production.readout import STATES, ice_cover_state, read_maps, summarise_draws
from astrotrain.universe import habitable_zone as hz
from astrotrain.universe.sampling import PARAMETER_NAMES


def test_runaway_and_maximum_greenhouse_limits_reproduce_kopparapu_2014():
    # the fits at the Sun's temperature are their S_eff,⊙ (Kopparapu et al. 2014, Table 1)
    assert hz.runaway_limit(5780.0, 1.0, synchronous=False) == pytest.approx(1.107)
    assert hz.runaway_limit(5780.0, 5.0, synchronous=False) == pytest.approx(1.188)
    assert hz.runaway_limit(5780.0, 0.1, synchronous=False) == pytest.approx(0.990)
    assert hz.maximum_greenhouse_limit(5780.0) == pytest.approx(0.356)
    # heavier planets run away later; cooler stars' redder light is absorbed more: both limits move inward in flux
    masses = np.array([0.1, 0.3, 1.0, 2.0, 5.0])
    assert np.all(np.diff(hz.runaway_limit(3300.0, masses, synchronous=False)) > 0)
    assert hz.runaway_limit(3000.0, 1.0, False) < hz.runaway_limit(5000.0, 1.0, False)
    assert hz.maximum_greenhouse_limit(3000.0) < hz.maximum_greenhouse_limit(5000.0)
    # between the fitted masses S_eff is interpolated in log mass: √(1·5) M⊕ sits half way
    half = hz.runaway_limit(5780.0, np.sqrt(5.0), False)
    assert half == pytest.approx(0.5 * (1.107 + 1.188))
    # a synchronous rotator's clouds push the inner edge out by the stated factor
    assert hz.runaway_limit(3000.0, 1.0) == pytest.approx(hz.SYNCHRONOUS_CLOUD_SHIFT * hz.runaway_limit(3000.0, 1.0, False))


def test_climate_limits_label_the_trappist_planets_as_the_gcm_studies_do():
    """TRAPPIST-1 (2566 K): b and c beyond the runaway limit, h beyond the maximum greenhouse, e inside."""
    f_star = np.array([4.15, 2.21, 0.646, 0.144]) * hz.SOLAR_FLUX  # b, c, e, h (Agol et al. 2021 instellations)
    mass = np.array([1.37, 1.31, 0.69, 0.33])
    label, s_eff = hz.climate_limit(f_star, np.full(4, 2566.0), mass)
    assert list(label) == ["runaway", "runaway", "", "frozen"]
    np.testing.assert_allclose(s_eff, [4.15, 2.21, 0.646, 0.144])


def _maps(values):
    return np.stack([np.full((32, 64), v, dtype=float) if np.isscalar(v) else v for v in values])


def test_the_map_decides_the_ice_states_and_the_habitable_fraction_follows_the_boiling_point():
    frozen, warm = 250.0, 300.0
    belt = np.full((32, 64), frozen)
    belt[14:18] = warm  # an ice-free equatorial belt
    eye = np.full((32, 64), frozen)
    eye[14:18, 28:36] = warm  # a substellar patch only
    maps = _maps([frozen, warm, belt, eye, 390.0, 420.0])
    assert [STATES[s] for s in ice_cover_state(maps)] == ["snowball", "globally_temperate", "waterbelt", "eyeball", "globally_temperate", "globally_temperate"]
    probs = np.tile(np.eye(6)[STATES.index("globally_temperate")], (6, 1))
    out = read_maps(maps, probs, np.array([1.0, 1.0, 1.0, 1.0, 1.0, 5.0]))
    assert [STATES[s] for s in out["state"]] == ["snowball", "globally_temperate", "waterbelt", "eyeball", "globally_temperate", "runaway_greenhouse"]
    # 390 K boils at 1 bar (373 K): habitable fraction 0 however warm the state looks; 420 K at 5 bar is liquid but a runaway (> 400 K)
    np.testing.assert_allclose(out["habitable_fraction"][[0, 1, 4, 5]], [0.0, 1.0, 0.0, 1.0])
    assert out["boiling_point"][4] == pytest.approx(372.76, abs=0.01)  # at 1 bar (IAPWS-IF97)


def test_only_a_moist_greenhouse_is_taken_from_the_head_and_never_a_frozen_globally_temperate():
    maps = _maps([250.0, 300.0])
    head = np.zeros((2, 6))
    head[0, STATES.index("globally_temperate")] = 1.0  # the head says temperate, the map is frozen: the map wins
    head[1, STATES.index("moist_greenhouse")] = 1.0  # the map cannot show water at the top level: the head decides
    out = read_maps(maps, head, np.ones(2))
    assert [STATES[s] for s in out["state"]] == ["snowball", "moist_greenhouse"]


def test_the_representative_draw_is_the_median_map_and_its_story_is_one_map():
    n, k = 2, 5
    ts = np.array([300.0, 280.0, 320.0, 290.0, 310.0, 250.0, 260.0, 270.0, 240.0, 230.0])
    readout = {"mean_ts": ts, "habitable_fraction": np.linspace(0, 0.9, 10), "boiling_point": np.full(10, 373.0),
               "state": np.array([3, 1, 3, 1, 3, 0, 0, 1, 0, 0])}
    usable = np.ones((n, k), dtype=bool)
    usable[1, 4] = False  # a draw outside the domain does not count
    out = summarise_draws(readout, n, k, usable)
    assert list(out["representative_draw"]) == [0, 1]  # 300 K of (280, 290, 300, 310, 320); 260 K of the 4 counted (240, 250, 260, 270)
    assert out["mean_ts"][0] == readout["mean_ts"][out["representative_draw"][0]]
    assert list(out["draws_counted"]) == [5, 4]
    assert out["state_probability"][0] == pytest.approx(3 / 5)


def test_draws_take_the_planets_own_prior_and_stratify_the_inclination_of_an_m_sin_i():
    k = 8
    quantiles = {"P0": list(np.linspace(0.05, 0.95, k)), "CO2": [0.5] * k, "CH4": [0.0] * k}
    prior = {"P0": [0.5, 5.0], "CO2": [1e-6, 0.95], "CH4": [1e-8, 0.05]}
    table = pd.DataFrame({"T_star": [3000.0, 3000.0], "F_star": [900.0, 900.0], "radius": [1.0, 1.0], "gravity": [9.81, 9.81], "P_rot": [10.0, 10.0],
                          "P0": [1.0, 1.0], "CO2": [1e-3, 1e-3], "CH4": [0.0, 0.0], "prior_P0_min": [2.0, np.nan], "prior_P0_max": [2.0, np.nan],
                          "prior_CO2_min": [np.nan, 1e-2], "prior_CO2_max": [np.nan, 1e-1], "msini": [False, True]})
    grid = pd.DataFrame(planet_draws(table, quantiles, prior), columns=list(PARAMETER_NAMES))
    first, second = grid.iloc[:k], grid.iloc[k:]
    assert np.allclose(first["P0"], 2.0)  # a value given is both bounds
    np.testing.assert_allclose(second["CO2"], np.sqrt(1e-2 * 1e-1))  # its own log-uniform prior at u = 0.5
    np.testing.assert_allclose(first["CO2"], np.sqrt(1e-6 * 0.95))  # the universe's
    assert second["P0"].min() >= 0.5 and second["P0"].max() <= 5.0
    # M sin i: true mass = m sin i / sin i, cos i stratified; radius follows the mass (Chen & Kipping), gravity both
    from astrotrain.data.mapping import radius_from_mass

    sin_i = np.sqrt(1 - ((np.arange(k) + 0.5) / k) ** 2)
    mass = 1.0 / sin_i
    np.testing.assert_allclose(second["radius"], radius_from_mass(mass))
    np.testing.assert_allclose(second["gravity"], 9.81 * mass / radius_from_mass(mass) ** 2)
    assert np.all(first["gravity"] == 9.81)  # a measured mass is not touched
    point = msini_point(table)
    assert point["gravity"].iloc[1] == pytest.approx(9.81 * (1 / MEDIAN_SIN_I) / radius_from_mass(1 / MEDIAN_SIN_I) ** 2)
