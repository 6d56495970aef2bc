"""The evolution emulator: a patch transformer over time (PatchTST, Nie et al. 2023, as a forecaster).

Tokens: one for the planet's box-model drivers (MLP), one for the observed start of the
trajectory (all its steps and features, linearly embedded), and one learned query per *patch*
of `patch_steps` future time steps. A bidirectional transformer encoder mixes them; each
query token is decoded to its patch's steps × outputs. The whole future comes out in one pass
(no autoregression): this is what makes the emulator thousands of times faster than the ODE
when trajectories are batched.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class EvolutionTransformer(nn.Module):
    def __init__(self, n_drivers: int, n_features: int, n_outputs: int, start_steps: int, future_steps: int,
                 patch_steps: int = 9, d_model: int = 64, n_heads: int = 4, n_layers: int = 3, dropout: float = 0.0):
        super().__init__()
        self.future_steps, self.patch_steps, self.n_outputs = future_steps, patch_steps, n_outputs
        n_patches = math.ceil(future_steps / patch_steps)
        self.driver_token = nn.Sequential(nn.Linear(n_drivers, d_model), nn.GELU(), nn.Linear(d_model, d_model))
        self.start_token = nn.Linear(start_steps * n_features, d_model)
        self.queries = nn.Parameter(torch.randn(n_patches, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, 4 * d_model, dropout, activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, patch_steps * n_outputs)

    def hidden(self, drivers: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        """Token states `[B, 2 + patches, d]` (drivers, start, one per future patch): the trunk, also lent to fusion."""
        b = drivers.shape[0]
        tokens = torch.cat(
            [self.driver_token(drivers)[:, None], self.start_token(start.flatten(1))[:, None], self.queries.expand(b, -1, -1)], dim=1
        )
        return self.norm(self.encoder(tokens))

    def forward(self, drivers: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        """`drivers` [B, D] and `start` [B, K, F] (standardised) → `[B, future_steps, n_outputs]`."""
        b = drivers.shape[0]
        h = self.hidden(drivers, start)[:, 2:]
        out = self.head(h).reshape(b, -1, self.n_outputs)
        return out[:, : self.future_steps]
