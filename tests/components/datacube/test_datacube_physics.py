"""Physics of the datacube constraints: known values, limits, zero on satisfying fields."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from astrotrain.components.datacube import physics
from astrotrain.universe.thermo import EARTH_AIR, dry_constants

AIR = dry_constants(EARTH_AIR)
EPS, KAPPA = float(AIR["epsilon"]), float(AIR["kappa"])
CO2 = dry_constants({"CO2": 1.0})


def test_saturation_vapour_pressure_known_values():
    t = torch.tensor([273.15, 293.15, 303.15], dtype=torch.float64)
    e_s = physics.saturation_vapour_pressure(t)
    assert e_s[0].item() == pytest.approx(611.2)
    assert e_s[1].item() == pytest.approx(2337.0, rel=2e-3)  # tables: 2339 Pa at 20 °C
    assert e_s[2].item() == pytest.approx(4243.0, rel=3e-3)  # tables: 4246 Pa at 30 °C


def test_saturation_specific_humidity_known_value_and_limits():
    q = physics.saturation_specific_humidity(torch.tensor(293.15, dtype=torch.float64), torch.tensor(101325.0, dtype=torch.float64), EPS)
    assert q.item() == pytest.approx(0.01447, rel=2e-3)  # ~14.5 g/kg at 20 °C, 1 atm
    hot = physics.saturation_specific_humidity(torch.tensor(400.0), torch.tensor(1000.0), EPS)
    assert hot.item() == 1.0  # boiling: capped, never negative or infinite
    t = torch.linspace(200, 320, 50, dtype=torch.float64)
    assert torch.all(torch.diff(physics.saturation_specific_humidity(t, torch.full_like(t, 8e4), EPS)) > 0)


def test_a_co2_atmosphere_saturates_at_a_lower_specific_humidity_and_has_a_softer_adiabat():
    """q_sat ≈ ε e_s / p when e_s ≪ p: ε = 0.409 in CO2 against 0.622 in air; κ = 0.224 against 2/7."""
    t, p = torch.tensor(260.0, dtype=torch.float64), torch.tensor(1e5, dtype=torch.float64)
    ratio = physics.saturation_specific_humidity(t, p, float(CO2["epsilon"])) / physics.saturation_specific_humidity(t, p, EPS)
    assert ratio.item() == pytest.approx(0.409 / 0.622, rel=2e-3)
    # θ of a 0.2-bar parcel brought down to 1 bar: it warms less in CO2 (smaller κ)
    cold = torch.tensor(220.0, dtype=torch.float64)
    low = physics.potential_temperature(cold, torch.tensor(2e4, dtype=torch.float64), float(CO2["kappa"]))
    high = physics.potential_temperature(cold, torch.tensor(2e4, dtype=torch.float64), KAPPA)
    assert low.item() == pytest.approx(220.0 * 5.0 ** 0.2239, rel=1e-3) and low < high
    # ε and κ broadcast per planet: two planets in one batch, each with its own gas
    eps = torch.tensor([EPS, float(CO2["epsilon"])], dtype=torch.float64)[:, None]
    q2 = physics.saturation_specific_humidity(torch.full((2, 3), 260.0, dtype=torch.float64), torch.full((2, 3), 1e5, dtype=torch.float64), eps)
    assert q2[1, 0] / q2[0, 0] == pytest.approx(ratio.item(), rel=1e-12)


def test_dry_adiabat_is_neutral_and_an_inversion_of_theta_is_penalised():
    from clero.climate_analysis import pressure_levels

    p = torch.from_numpy(pressure_levels(1.0))[None, :]
    adiabat = 300.0 * (p / physics.P_REFERENCE) ** KAPPA  # θ = 300 K at every level
    theta = physics.potential_temperature(adiabat, p, KAPPA)
    assert torch.allclose(theta, torch.full_like(theta, 300.0))
    assert physics.static_stability_penalty(adiabat, p, KAPPA).item() == 0.0
    stable = adiabat + torch.linspace(0, 30, 10, dtype=torch.float64)[None, :]  # θ grows with height
    assert physics.static_stability_penalty(stable, p, KAPPA).item() == 0.0
    unstable = adiabat.clone()
    unstable[0, 0] += 5.0 * (p[0, 0] / physics.P_REFERENCE) ** KAPPA  # θ 5 K warmer at the bottom
    # one super-adiabatic pair of 9: (5 − 1 K tolerance)² / 9
    assert physics.static_stability_penalty(unstable, p, KAPPA).item() == pytest.approx(16.0 / 9.0)
    # the adiabat is T ∝ p^κ: with CO2's smaller κ temperature falls less per e-fold of pressure, so
    # air's adiabat is super-adiabatic in a CO2 atmosphere, and CO2's adiabat is stable in air
    assert physics.static_stability_penalty(adiabat, p, float(CO2["kappa"])).item() > 0.0
    co2_adiabat = 300.0 * (p / physics.P_REFERENCE) ** float(CO2["kappa"])
    assert physics.static_stability_penalty(co2_adiabat, p, float(CO2["kappa"])).item() == 0.0
    assert physics.static_stability_penalty(co2_adiabat, p, KAPPA).item() == 0.0


def test_relative_humidity_penalty_zero_when_subsaturated_positive_when_not():
    t = torch.full((4, 10), 290.0, dtype=torch.float64)
    p = torch.full((4, 10), 9e4, dtype=torch.float64)
    q_sat = physics.saturation_specific_humidity(t, p, EPS)
    assert physics.relative_humidity_penalty(0.5 * q_sat, t, p, EPS).item() == 0.0
    assert physics.relative_humidity_penalty(1.04 * q_sat, t, p, EPS).item() == 0.0  # inside the tolerance
    assert physics.relative_humidity_penalty(2.0 * q_sat, t, p, EPS).item() == pytest.approx(np.log(2.0 / 1.05) ** 2)
    # the penalty moves humidity, never temperature
    t_grad, q_grad = t.clone().requires_grad_(), (2.0 * q_sat).requires_grad_()
    physics.relative_humidity_penalty(q_grad, t_grad, p, EPS).backward()
    assert t_grad.grad is None and torch.all(q_grad.grad > 0)
    # no worse than the data: a supersaturated truth raises the limit
    assert physics.relative_humidity_penalty(2.0 * q_sat, t, p, EPS, allowed=torch.full_like(t, 2.5)).item() == 0.0
    # air's saturation is supersaturation in CO2: the same q is penalised under the planet's own ε
    assert physics.relative_humidity_penalty(0.9 * q_sat, t, p, float(CO2["epsilon"])).item() > 0.0


def test_relative_humidity_penalty_stays_finite_where_saturation_underflows():
    """A cold predicted top level (60 K: Bolton's e_s underflows float32) gives a large, finite penalty and gradient."""
    t, p = torch.full((2, 3), 60.0), torch.full((2, 3), 1e3)
    q = torch.full((2, 3), 1e-8, requires_grad=True)
    penalty = physics.relative_humidity_penalty(q, t, p, EPS)
    penalty.backward()
    assert torch.isfinite(penalty) and penalty.item() > 100.0 and torch.isfinite(q.grad).all()


def test_hard_output_constraints_hold_on_random_inputs():
    torch.manual_seed(0)
    raw = torch.randn(1000) * 50
    assert torch.all(physics.constrain_humidity(raw, 1e-2) >= 0)
    cloud = physics.constrain_cloud_fraction(raw)
    assert torch.all((cloud >= 0) & (cloud <= 1))
    np.testing.assert_allclose(physics.constrain_cloud_fraction(torch.tensor([0.0])).numpy(), [0.5])
