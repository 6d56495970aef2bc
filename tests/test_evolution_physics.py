"""The carbonate-silicate box model as physics: Gough's Sun, carbon conservation, the thermostat, failures."""

from __future__ import annotations

import numpy as np
import pytest

from astrotrain.universe import evolution as ev


def drivers(n=6, seed=3, o2_mode=0, o2_today=0.0):
    rng = np.random.default_rng(seed)
    return ev.draw_drivers(rng.uniform(500, 1500, n), np.full(n, o2_today), np.full(n, o2_mode), seed)


def one(d, i):
    return {k: v[i] for k, v in d.items()}


def test_gough_luminosity_at_zero_age_and_today():
    """L(t)/L⊙ = 1 / (1 + 2/5 (1 − t/t⊙)): 1/1.4 at t = 0, 1 at t⊙ (Gough 1981)."""
    assert ev.luminosity_factor(0.0) == pytest.approx(1 / 1.4, rel=1e-12)
    assert ev.luminosity_factor(ev.T_SUN_GYR) == pytest.approx(1.0, rel=1e-12)
    assert ev.luminosity_factor(ev.T_SUN_GYR / 2) == pytest.approx(1 / 1.2, rel=1e-12)


def test_energy_balance_gives_earth_today():
    assert ev.surface_temperature(1361.0, 280e-6) == pytest.approx(288.0, abs=1.0)
    # 3 K per CO2 doubling well above the knee
    assert ev.surface_temperature(1361.0, 0.2) - ev.surface_temperature(1361.0, 0.1) == pytest.approx(3.0, rel=0.01)


def test_carbon_is_conserved_across_reservoirs():
    d = drivers(8)
    for i in range(8):
        out = ev.integrate(one(d, i))
        total = out["C_atmosphere_ocean"] + out["C_carbonate"] + out["C_mantle"]
        np.testing.assert_allclose(total, d["C_total"][i], rtol=1e-9)
        assert np.all(out["C_carbonate"] >= -1e-9 * d["C_total"][i]) and np.all(out["pCO2"] > 0)


def test_trajectories_obey_the_flux_budget():
    """dC_a/dt = F_out − W and dC_c/dt = W − C_c/τ_sub along the stored 50-Myr grid (central
    differences, after the initial ~Myr relaxation of the atmosphere-ocean)."""
    d = drivers(6)
    for i in range(6):
        p = one(d, i)
        out = ev.integrate(p)
        t = ev.TIME_GRID_GYR
        w = ev.weathering(out["pCO2"], out["temperature"], p["land_fraction"])
        f_out = p["k_outgassing"] * np.exp(-t / p["tau_outgassing"]) * out["C_mantle"]
        late = t >= 1.0
        scale = f_out[late].max()
        np.testing.assert_allclose(np.gradient(out["C_atmosphere_ocean"], t)[late], (f_out - w)[late], atol=0.02 * scale)
        subduction = out["C_carbonate"] / p["tau_subduction"]
        np.testing.assert_allclose(np.gradient(out["C_carbonate"], t)[late], (w - subduction)[late], atol=0.02 * scale)


def test_a_brighter_star_needs_less_co2_at_the_same_outgassing():
    """Same carbon cycle, 30 % more instellation → lower pCO2 at every time after the start."""
    p = one(drivers(1), 0)
    dim, bright = ev.integrate({**p, "F_star": 800.0}), ev.integrate({**p, "F_star": 1040.0})
    assert np.all(bright["pCO2"][5:] < dim["pCO2"][5:])


def test_weathering_feedback_halves_the_warming_of_a_brightening_star():
    """At a fixed weathering rate, W ∝ p^β exp(T/T_e) and T = T_eq + λ ln p give
    dT/dT_eq = β T_e / (β T_e + λ') with λ' = dT/d ln p = λ p / (p + p_knee) (Walker et al. 1981's
    negative feedback: about half the warming is taken back by the CO2 drawdown)."""
    from scipy.optimize import brentq

    def steady_state(instellation, rate=60.0):
        log_p = brentq(lambda lp: np.log(ev.weathering(10**lp, ev.surface_temperature(instellation, 10**lp), 0.3) / rate), -8, 1)
        return ev.surface_temperature(instellation, 10**log_p), 10**log_p

    def t_eq(s):
        return (s * (1 - ev.ALBEDO) / (4 * ev.SIGMA_SB)) ** 0.25

    s0, s1 = 1300.0, 1310.0
    (temp0, p0), (temp1, _) = steady_state(s0), steady_state(s1)
    gain = (temp1 - temp0) / (t_eq(s1) - t_eq(s0))
    sensitivity = ev.CO2_SENSITIVITY * p0 / (p0 + ev.P_CO2_KNEE)
    assert gain == pytest.approx(ev.BETA * ev.T_E / (ev.BETA * ev.T_E + sensitivity), rel=0.01)
    assert 0.4 < gain < 0.6


def test_oxygenation_switch_raises_o2_after_t_ox_only():
    d = drivers(1, o2_mode=ev.O2_MODES["biotic"], o2_today=0.05)
    p = {**one(d, 0), "t_oxygenation": 2.0}
    out = ev.integrate(p)
    t = ev.TIME_GRID_GYR
    assert np.all(out["pO2"][t <= 1.5] < 1e-3 * 0.05)
    assert out["pO2"][-1] == pytest.approx(0.05, rel=1e-3)
    abiotic = ev.integrate({**p, "o2_mode": ev.O2_MODES["abiotic"]})
    assert abiotic["pO2"][t >= 1.0].min() == pytest.approx(0.05, rel=1e-3)  # water-loss O2 is there from the start


def test_failed_integrations_are_recorded_and_excluded_never_raised():
    d = drivers(5)
    out, ok, failures = ev.integrate_all(d, method="RK45", max_evaluations=200)  # explicit solver on a stiff system
    assert (~ok).sum() == len(failures) > 0
    assert all("right-hand-side evaluations" in f["reason"] for f in failures)
    assert np.all(np.isnan(out["pCO2"][~ok])) and np.all(np.isfinite(out["pCO2"][ok]))


def test_a_runaway_planet_fails_with_its_reason_under_the_default_solver():
    """LSODA on an absurd star (10^12 W/m²): the weathering exponential overflows; the planet is
    recorded with that reason and the others integrate normally."""
    d = drivers(2)
    d["F_star"] = np.array([1000.0, 1e12])
    out, ok, failures = ev.integrate_all(d)
    assert ok.tolist() == [True, False]
    assert failures == [{"planet": 1, "reason": "floating-point error: overflow encountered in exp"}]
    np.testing.assert_allclose(out["C_atmosphere_ocean"][0] + out["C_carbonate"][0] + out["C_mantle"][0], d["C_total"][0], rtol=1e-9)
