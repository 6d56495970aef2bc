"""Physical constraints on 3D climate fields (T, q, cloud fraction on the model levels).

Hard, in an output layer: q >= 0 (softplus), 0 <= cloud fraction <= 1 (sigmoid).
Soft, as penalties that are zero on fields that satisfy them:

* relative humidity <= 1: q <= q_sat(T, p), with the saturation vapour pressure over liquid
  water of Bolton (1980, MWR 108, 1046), e_s = 611.2 exp(17.67 (T − 273.15) / (T − 29.65)) Pa,
  and q_sat = ε e_s / (p − (1 − ε) e_s); level pressures from
  `clero.climate_analysis.pressure_levels(P0)`;
* static stability: potential temperature θ = T (p_ref / p)^κ must not decrease with height by
  more than a tolerance (a super-adiabatic lapse rate).

ε = M_H2O / μ_dry and κ = R / c_p are each planet's own, from its dry composition
(`universe/thermo.py`): 0.622 and 2/7 for Earth air, 0.409 and 0.224 for pure CO2 — a CO2
atmosphere saturates at a lower specific humidity and has a steeper dry adiabat in θ.

CLERO's own fields violate both (it emulates T and q separately): over 1,000 default-universe
planets, 3.6 % of level cells exceed RH = 1 (9 % on the lowest level; up to 620× at the coldest
top levels, where the liquid-water formula does not apply) and 0.2 % have θ decreasing with
height (by at most 2.9 K). The penalties therefore take a tolerance, and `relative_humidity_penalty`
accepts the truth's own RH so that a prediction is only penalised beyond what the data does.
"""

from __future__ import annotations

import torch

P_REFERENCE = 1.0e5  # Pa, reference pressure of θ


def saturation_vapour_pressure(temperature: torch.Tensor) -> torch.Tensor:
    """Bolton (1980) over liquid water, in Pa; exact 611.2 Pa at 273.15 K."""
    return 611.2 * torch.exp(17.67 * (temperature - 273.15) / (temperature - 29.65))


def saturation_specific_humidity(temperature: torch.Tensor, pressure: torch.Tensor, epsilon) -> torch.Tensor:
    """q_sat in kg/kg for a dry gas of ε = M_H2O / μ_dry (broadcast against T); capped at 1 where
    e_s reaches the pressure (boiling)."""
    e_s = torch.minimum(saturation_vapour_pressure(temperature), pressure)
    return (epsilon * e_s / (pressure - (1.0 - epsilon) * e_s)).clamp(max=1.0)


def potential_temperature(temperature: torch.Tensor, pressure: torch.Tensor, kappa) -> torch.Tensor:
    """θ = T (p_ref / p)^κ with the planet's κ = R / c_p (broadcast against T)."""
    return temperature * (P_REFERENCE / pressure) ** kappa


def relative_humidity_penalty(q, temperature, pressure, epsilon, tolerance: float = 0.05, allowed=None) -> torch.Tensor:
    """Mean of max(0, ln RH − ln max(1 + tolerance, allowed))²; `allowed` = the truth's RH, if given.

    In log space because RH spans orders of magnitude across levels (a 10⁻⁶ kg/kg error is
    nothing near the surface and RH ≫ 1 at a 150 K top level). Temperature is detached: the
    penalty moves humidity towards saturation of the predicted temperature, and does not pull
    the temperature (which the data constrains far better) through the exponential e_s(T).
    """
    # q_sat floored too: Bolton's e_s underflows float32 below ~80 K (a cold predicted top level), and ln(q / 0) is no gradient
    rh = q.clamp_min(1e-30) / saturation_specific_humidity(temperature.detach(), pressure, epsilon).clamp_min(1e-30)
    limit = torch.full_like(rh, 1.0 + tolerance) if allowed is None else torch.clamp(allowed, min=1.0 + tolerance)
    return (torch.log(rh) - torch.log(limit)).clamp_min(0.0).pow(2).mean()


def static_stability_penalty(temperature, pressure, kappa, level_dim: int = 1, tolerance_k: float = 1.0) -> torch.Tensor:
    """Mean of max(0, θ_k − θ_{k+1} − tolerance)² over adjacent levels (level 0 lowest); in K²."""
    theta = potential_temperature(temperature, pressure, kappa)
    drop = theta.narrow(level_dim, 0, theta.shape[level_dim] - 1) - theta.narrow(level_dim, 1, theta.shape[level_dim] - 1)
    return (drop - tolerance_k).clamp_min(0.0).pow(2).mean()


def constrain_humidity(raw: torch.Tensor, scale: float) -> torch.Tensor:
    """Hard q >= 0: softplus of the network's output, in units of `scale` kg/kg."""
    return torch.nn.functional.softplus(raw) * scale


def constrain_cloud_fraction(raw: torch.Tensor) -> torch.Tensor:
    """Hard 0 <= cloud fraction <= 1."""
    return torch.sigmoid(raw)
