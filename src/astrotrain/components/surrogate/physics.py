"""Physical constraints on the surrogate's predicted maps.

* Hard (output layer, with `physics.constraints`): absorbed shortwave is zero where the star
  is below the horizon — CLERO's planets are tidally locked, so that is the fixed nightside
  hemisphere, |longitude| > 90° from the substellar point — and ASR, OLR >= 0.
* Soft (loss term): global energy balance of a steady-state climate, <ASR> = <OLR> (area
  means). CLERO's own fields satisfy it to within ~2 W/m² (|<ASR> − <OLR>| ≤ 3.3 W/m² over
  200 random core-domain planets, median 0.4 W/m², for a mean ASR of ~170 W/m²), so the
  penalty only acts beyond a tolerance (`energy_balance_tolerance`) and never forces the
  model past what the data itself does.

Every residual is reported as a metric in every run, with and without the constraints.
"""

from __future__ import annotations

import numpy as np
import torch


def nightside_mask(n_lat: int = 32, n_lon: int = 64) -> np.ndarray:
    """Flattened `[lat*lon]` boolean mask of cells with |longitude| > 90° (substellar point at 0°)."""
    from clero.climate_analysis import longitude_centers

    night = np.abs(longitude_centers(n_lon)) > 90.0
    return np.broadcast_to(night[None, :], (n_lat, n_lon)).reshape(-1).copy()


def apply_hard_constraints(maps: torch.Tensor, nightside: torch.Tensor) -> torch.Tensor:
    """`maps` `[B, 3, P]` (Ts, ASR, OLR): ASR := 0 on the nightside, ASR and OLR >= 0."""
    ts, asr, olr = maps.unbind(dim=1)
    asr = torch.where(nightside, torch.zeros_like(asr), asr.clamp_min(0.0))
    return torch.stack([ts, asr, olr.clamp_min(0.0)], dim=1)


def energy_imbalance(asr: torch.Tensor, olr: torch.Tensor, area_weights: torch.Tensor) -> torch.Tensor:
    """<ASR> − <OLR> in W/m² per planet (area-weighted global means); `[B, P]` → `[B]`."""
    return (asr - olr) @ area_weights


def energy_balance_penalty(imbalance: torch.Tensor, tolerance: float, scale: float = 10.0) -> torch.Tensor:
    """Soft constraint: mean of (max(0, |imbalance| − tolerance) / scale)²; zero inside the tolerance."""
    return ((imbalance.abs() - tolerance).clamp_min(0.0) / scale).pow(2).mean()


def nightside_asr(asr: torch.Tensor, nightside: torch.Tensor) -> torch.Tensor:
    """Mean |ASR| over nightside cells per planet (W/m²): zero for a physical field."""
    return asr[:, nightside].abs().mean(dim=1)
