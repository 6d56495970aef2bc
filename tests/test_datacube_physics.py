"""Physics of the datacube constraints: known values, limits, zero on satisfying fields."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from astrotrain.components.datacube import physics


def test_saturation_vapour_pressure_known_values():
    t = torch.tensor([273.15, 293.15, 303.15], dtype=torch.float64)
    e_s = physics.saturation_vapour_pressure(t)
    assert e_s[0].item() == pytest.approx(611.2)
    assert e_s[1].item() == pytest.approx(2337.0, rel=2e-3)  # tables: 2339 Pa at 20 °C
    assert e_s[2].item() == pytest.approx(4243.0, rel=3e-3)  # tables: 4246 Pa at 30 °C


def test_saturation_specific_humidity_known_value_and_limits():
    q = physics.saturation_specific_humidity(torch.tensor(293.15, dtype=torch.float64), torch.tensor(101325.0, dtype=torch.float64))
    assert q.item() == pytest.approx(0.01447, rel=2e-3)  # ~14.5 g/kg at 20 °C, 1 atm
    hot = physics.saturation_specific_humidity(torch.tensor(400.0), torch.tensor(1000.0))
    assert hot.item() == 1.0  # boiling: capped, never negative or infinite
    t = torch.linspace(200, 320, 50, dtype=torch.float64)
    assert torch.all(torch.diff(physics.saturation_specific_humidity(t, torch.full_like(t, 8e4))) > 0)


def test_dry_adiabat_is_neutral_and_an_inversion_of_theta_is_penalised():
    from clero.climate_analysis import pressure_levels

    p = torch.from_numpy(pressure_levels(1.0))[None, :]
    adiabat = 300.0 * (p / physics.P_REFERENCE) ** physics.KAPPA  # θ = 300 K at every level
    theta = physics.potential_temperature(adiabat, p)
    assert torch.allclose(theta, torch.full_like(theta, 300.0))
    assert physics.static_stability_penalty(adiabat, p).item() == 0.0
    stable = adiabat + torch.linspace(0, 30, 10, dtype=torch.float64)[None, :]  # θ grows with height
    assert physics.static_stability_penalty(stable, p).item() == 0.0
    unstable = adiabat.clone()
    unstable[0, 0] += 5.0 * (p[0, 0] / physics.P_REFERENCE) ** physics.KAPPA  # θ 5 K warmer at the bottom
    # one super-adiabatic pair of 9: (5 − 1 K tolerance)² / 9
    assert physics.static_stability_penalty(unstable, p).item() == pytest.approx(16.0 / 9.0)


def test_relative_humidity_penalty_zero_when_subsaturated_positive_when_not():
    t = torch.full((4, 10), 290.0, dtype=torch.float64)
    p = torch.full((4, 10), 9e4, dtype=torch.float64)
    q_sat = physics.saturation_specific_humidity(t, p)
    assert physics.relative_humidity_penalty(0.5 * q_sat, t, p).item() == 0.0
    assert physics.relative_humidity_penalty(1.04 * q_sat, t, p).item() == 0.0  # inside the tolerance
    assert physics.relative_humidity_penalty(2.0 * q_sat, t, p).item() == pytest.approx(np.log(2.0 / 1.05) ** 2)
    # the penalty moves humidity, never temperature
    t_grad, q_grad = t.clone().requires_grad_(), (2.0 * q_sat).requires_grad_()
    physics.relative_humidity_penalty(q_grad, t_grad, p).backward()
    assert t_grad.grad is None and torch.all(q_grad.grad > 0)
    # no worse than the data: a supersaturated truth raises the limit
    assert physics.relative_humidity_penalty(2.0 * q_sat, t, p, allowed=torch.full_like(t, 2.5)).item() == 0.0


def test_hard_output_constraints_hold_on_random_inputs():
    torch.manual_seed(0)
    raw = torch.randn(1000) * 50
    assert torch.all(physics.constrain_humidity(raw, 1e-2) >= 0)
    cloud = physics.constrain_cloud_fraction(raw)
    assert torch.all((cloud >= 0) & (cloud <= 1))
    np.testing.assert_allclose(physics.constrain_cloud_fraction(torch.tensor([0.0])).numpy(), [0.5])
