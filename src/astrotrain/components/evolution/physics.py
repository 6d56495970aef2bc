"""Physics of the evolution emulator: carbon conservation and the energy balance (universe/evolution.py).

* Carbon conservation: the three reservoirs' shares of the planet's carbon sum to one,
  f_a + f_c + f_m = 1, with f_a = pCO2 (1 + OCEAN_BUFFER) / C_total. With
  `physics.constraints` the model predicts reservoir logits and the shares are their softmax —
  conservation holds by construction, and pCO2 = f_a C_total / (1 + OCEAN_BUFFER) is *derived*;
  without, the shares and pCO2 are free outputs and only the residual is reported.
* Energy balance: with constraints, T(t) is not predicted but computed from the predicted pCO2
  and the known instellation S(t) = F⋆ L(t)/L(t⊙) by the box model's own formula.
"""

from __future__ import annotations

import math

import torch

from ...universe.evolution import OCEAN_BUFFER, luminosity_factor, surface_temperature

LOG10_BUFFER = math.log10(1.0 + OCEAN_BUFFER)


def atmosphere_share(log10_pco2: torch.Tensor, log10_c_total: torch.Tensor) -> torch.Tensor:
    """f_a = pCO2 (1 + B) / C_total from log10 pCO2 `[B, T]` and log10 C_total `[B]`."""
    return torch.pow(10.0, log10_pco2 + LOG10_BUFFER - log10_c_total[:, None])


def conservation_residual(f_atmosphere: torch.Tensor, f_carbonate: torch.Tensor, f_mantle: torch.Tensor) -> torch.Tensor:
    """|f_a + f_c + f_m − 1| per planet and time."""
    return (f_atmosphere + f_carbonate + f_mantle - 1.0).abs()


def conserved_reservoirs(logits: torch.Tensor, log10_c_total: torch.Tensor) -> dict[str, torch.Tensor]:
    """Shares (softmax over the last axis of `[B, T, 3]` logits: atmosphere-ocean, carbonate, mantle) and the derived log10 pCO2."""
    log_shares = torch.log_softmax(logits, dim=-1)
    shares = log_shares.exp()
    log10_pco2 = log_shares[..., 0] / math.log(10.0) + log10_c_total[:, None] - LOG10_BUFFER
    return {"f_atmosphere": shares[..., 0], "f_carbonate": shares[..., 1], "f_mantle": shares[..., 2], "log10_pCO2": log10_pco2}


def energy_balance_temperature(f_star: torch.Tensor, time_gyr: torch.Tensor, log10_pco2: torch.Tensor) -> torch.Tensor:
    """T [K] `[B, T]` of the box model's energy balance for F⋆ `[B]`, times `[T]` and log10 pCO2 `[B, T]`."""
    instellation = f_star[:, None] * luminosity_factor(time_gyr)[None, :]
    return surface_temperature(instellation, torch.pow(10.0, log10_pco2), xp=torch)
