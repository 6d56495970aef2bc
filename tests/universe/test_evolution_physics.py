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
        w = ev.weathering(out["pCO2"], out["temperature"], p["land_fraction"], p["weatherability"])
        f_out = p["k_outgassing"] * np.exp(-t / p["tau_outgassing"]) * out["C_mantle"]
        late = t >= 1.0
        scale = f_out[late].max()
        np.testing.assert_allclose(np.gradient(out["C_atmosphere_ocean"], t)[late], (f_out - w)[late], atol=0.02 * scale)
        subduction = out["C_carbonate"] / p["tau_subduction"]
        np.testing.assert_allclose(np.gradient(out["C_carbonate"], t)[late], (w - subduction)[late], atol=0.02 * scale)


def test_trajectories_are_anchored_to_the_planets_present_co2():
    """The solved weatherability makes each trajectory end at its planet's own CO2 × P0 (the climate
    CLERO computed), across seven decades of target pCO2; the box model's physics is untouched."""
    from astrotrain.universe.sampling import sample_parameters

    n = 512
    p = sample_parameters(n, seed=5, co2_range=(1e-6, 0.95), ch4_range=(1e-8, 0.05))
    target = p["CO2"] * p["P0"]
    d, out, ok, failures, record = ev.anchor_present_co2(drivers(n, seed=5), target)
    assert ok.all() and not failures
    error = np.abs(np.log10(out["pCO2"][:, -1]) - np.log10(target))
    assert record["anchored"] == n - len(record["missed"]) >= 0.98 * n
    assert np.median(error) < 0.005 and np.quantile(error, 0.98) <= ev.ANCHOR_TOLERANCE_DEX
    assert {m["planet"] for m in record["missed"]} == set(np.flatnonzero(error > ev.ANCHOR_TOLERANCE_DEX).tolist())
    lo, hi = ev.WEATHERABILITY_BOUNDS
    assert np.all((d["weatherability"] >= lo) & (d["weatherability"] <= hi))
    # the anchored run is an ordinary box-model solution: integrating its drivers again gives it back
    again = ev.integrate(one(d, 7))
    np.testing.assert_allclose(again["pCO2"], out["pCO2"][7], rtol=1e-3)
    # more CO2 today takes less weathering (at similar outgassing): w falls with the target
    assert np.corrcoef(np.log(target), np.log(d["weatherability"]))[0, 1] < -0.3


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


def mixed_drivers(n, seed=5):
    """`n` planets cycling through the three O2 modes (no O2, oxygenic biosphere, abiotic O2)."""
    d = drivers(n, seed=seed)
    d["o2_mode"] = np.arange(n) % 3
    d["O2_today"] = np.where(d["o2_mode"] > 0, np.random.default_rng(seed).uniform(1e-3, 0.2, n), 0.0)
    return d


def test_batched_integration_agrees_with_planet_by_planet_solves():
    """The chunk's stacked solve (error control over the whole chunk) against each planet alone at
    rtol 10⁻⁹: temperatures within 1 mK, pCO2 within 10⁻⁴ (99th percentile); carbon conserved."""
    d = mixed_drivers(64)
    out, ok, failures = ev.integrate_all(d)
    assert ok.all() and failures == []
    ref = [ev.integrate(one(d, i), rtol=1e-9) for i in range(64)]
    temp, pco2 = np.stack([r["temperature"] for r in ref]), np.stack([r["pCO2"] for r in ref])
    assert np.abs(out["temperature"] - temp).max() < 1e-3
    assert np.percentile(np.abs(out["pCO2"] - pco2) / pco2, 99) < 1e-4
    np.testing.assert_allclose(np.stack([out["pO2"][i] for i in range(64)]), np.stack([r["pO2"] for r in ref]), rtol=1e-3, atol=1e-6)
    total = out["C_atmosphere_ocean"] + out["C_carbonate"] + out["C_mantle"]
    np.testing.assert_allclose(total, np.broadcast_to(d["C_total"][:, None], total.shape), rtol=1e-9)


def test_a_runaway_planet_sends_only_its_own_chunk_planet_by_planet(monkeypatch):
    """40 planets in chunks of 8, planet 25 on a 10^12 W/m² star: its chunk's stacked solve overflows
    and that chunk alone is redone planet by planet; the runaway is recorded with its own reason."""
    d = mixed_drivers(40)
    d["F_star"][25] = 1e12
    alone, integrate = [], ev.integrate

    def spy(p, **solver):
        alone.append(float(p["C_total"]))
        return integrate(p, **solver)

    monkeypatch.setattr(ev, "integrate", spy)
    out, ok, failures = ev.integrate_all(d, chunk=8)
    assert alone == d["C_total"][24:32].tolist()
    assert ok.tolist() == [i != 25 for i in range(40)]
    assert failures == [{"planet": 25, "reason": "floating-point error: overflow encountered in exp"}]
    assert np.all(np.isnan(out["pCO2"][25])) and np.all(np.isfinite(out["pCO2"][ok]))
    monkeypatch.undo()
    reference, _, _ = ev.integrate_all({k: np.delete(v, 25) for k, v in d.items()}, chunk=8)
    np.testing.assert_allclose(np.delete(out["temperature"], 25, axis=0), reference["temperature"], rtol=1e-5)


def test_results_do_not_depend_on_the_chunk_size():
    d = mixed_drivers(30, seed=11)
    small, ok_small, _ = ev.integrate_all(d, chunk=7)
    large, ok_large, _ = ev.integrate_all(d, chunk=1024)
    assert ok_small.all() and ok_large.all()
    np.testing.assert_allclose(small["temperature"], large["temperature"], rtol=1e-5)
    np.testing.assert_allclose(small["pCO2"], large["pCO2"], rtol=1e-3)


@pytest.mark.parametrize("method", ["BDF", "Radau"])
def test_implicit_methods_use_the_sparse_block_jacobian(method):
    d = mixed_drivers(12, seed=2)
    out, ok, failures = ev.integrate_all(d, method=method)
    assert ok.all() and failures == []
    ref = ev.integrate(one(d, 4), method=method, rtol=1e-9)
    np.testing.assert_allclose(out["temperature"][4], ref["temperature"], atol=1e-3)


def test_stacked_jacobians_are_the_block_diagonal_of_the_planet_jacobians():
    """LSODA's packed band (jac_packed[3 + i − j, j] = J[i, j]) and the sparse form for BDF/Radau,
    against the planets' own 4×4 Jacobians — and both against finite differences of the stacked rhs."""
    from scipy.linalg import block_diag

    d, t = mixed_drivers(5), 1.7
    y = np.random.default_rng(0).uniform(0.1, 1.0, 20) * np.repeat(d["C_total"], 4)
    dense = block_diag(*[ev.BoxModel(one(d, i)).jacobian(t, y[4 * i : 4 * i + 4]) for i in range(5)])
    model = ev.StackedBoxModel(d)
    np.testing.assert_allclose(model.sparse_jacobian(t, y).toarray(), dense, rtol=1e-14)
    packed = model.banded_jacobian(t, y)
    i, j = np.nonzero(np.abs(np.arange(20)[:, None] - np.arange(20)) <= 3)
    unpacked = np.zeros((20, 20))
    unpacked[i, j] = packed[3 + i - j, j]
    np.testing.assert_allclose(unpacked, dense, rtol=1e-14)
    eps = 1e-7 * np.abs(y)
    numeric = np.stack([(model.rhs(t, y + e) - model.rhs(t, y - e)) / (2 * e.sum()) for e in np.diag(eps)], axis=1)
    np.testing.assert_allclose(numeric, dense, rtol=1e-5, atol=1e-9 * np.abs(dense).max())
