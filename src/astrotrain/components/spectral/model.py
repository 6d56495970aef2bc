"""The retrieval network: a residual 1D CNN from a transmission spectrum to abundances + P(life).

Why a CNN and not a transformer: on a fixed instrument grid every absorption band is a local
pattern a few bins wide whose *depth relative to the neighbouring continuum* carries the
abundance (R ∝ H ln κ) — exactly what stacked convolutions see, at O(bins) cost (a 370-bin
spectrum trains in minutes on 2 CPU cores). The transformer's strength, irregular grids,
is not needed once observed spectra are binned onto the instrument grid (observed.py).
Position matters (a feature at 4.3 µm is CO2, at 3.3 µm CH4), so the last feature map is
flattened, not pooled.

Input: the spectrum as an *altitude spectrum*, z(λ) = (R(λ) − R̄) / H_ref with R = √depth · R⋆,
R̄ its mean over the bins and H_ref = k · 250 K / (29 m_u g): features then have the same size
around a Sun-like star and an M dwarf, and z's noise, σ_z = σ R⋆ / (2 √depth H_ref), is the
second input channel. Context: the host's T⋆, the planet's g and R̄ (white-light radius).
Output: per gas, the mean and log-variance of the standardised log10 abundance; a biosphere logit.
"""

from __future__ import annotations

import torch
from torch import nn

from .forward import K_B, M_U, R_EARTH

T_REFERENCE = 250.0  # K, of the reference scale height
MU_REFERENCE = 29.0  # g/mol


def altitude_spectrum(depth: torch.Tensor, sigma: torch.Tensor, r_star: torch.Tensor, gravity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """([B, 2, bins] (z, log σ_z), [B] white-light radius in R_earth) of depths `[B, bins]`."""
    root = depth.clamp_min(1e-12).sqrt()
    radius = root * r_star[:, None]
    h_ref = (K_B * T_REFERENCE / (MU_REFERENCE * M_U * gravity))[:, None]
    mean_radius = radius.mean(dim=1, keepdim=True)
    z = (radius - mean_radius) / h_ref
    sigma_z = (sigma * r_star[:, None] / (2.0 * root * h_ref)).clamp_min(1e-3)
    return torch.stack([z, sigma_z.log()], dim=1), mean_radius[:, 0] / R_EARTH


class ResidualBlock1d(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float):
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, 5, stride=stride, padding=2)
        self.norm1 = nn.GroupNorm(min(8, c_out), c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 5, padding=2)
        self.norm2 = nn.GroupNorm(min(8, c_out), c_out)
        self.skip = nn.Conv1d(c_in, c_out, 1, stride=stride)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.norm1(self.conv1(x)))
        h = self.norm2(self.conv2(self.drop(h)))
        return self.act(h + self.skip(x))


class SpectralCNN(nn.Module):
    def __init__(self, n_bins: int, n_context: int, n_gases: int, width: int = 32, stages: int = 4, hidden: int = 256, dropout: float = 0.0):
        super().__init__()
        self.n_gases = n_gases
        self.stem = nn.Sequential(nn.Conv1d(2, width, 7, padding=3), nn.GELU())
        blocks, c = [], width
        for s in range(stages):
            blocks.append(ResidualBlock1d(c, width * 2**s, stride=2, dropout=dropout))
            c = width * 2**s
        self.blocks = nn.Sequential(*blocks)
        length = n_bins
        for _ in range(stages):
            length = (length - 1) // 2 + 1
        self.head = nn.Sequential(
            nn.Linear(c * length + n_context + 1, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, 2 * n_gases + 1),
        )

    def embed(self, spectrum: torch.Tensor, context: torch.Tensor, white_light_radius: torch.Tensor) -> torch.Tensor:
        """The head's last hidden layer `[B, hidden]`: what the CNN read from the spectrum (lent to fusion)."""
        features = self.blocks(self.stem(spectrum)).flatten(1)
        return self.head[:-1](torch.cat([features, context, white_light_radius[:, None]], dim=1))

    def forward(self, spectrum: torch.Tensor, context: torch.Tensor, white_light_radius: torch.Tensor) -> dict[str, torch.Tensor]:
        """`spectrum` [B, 2, bins] from `altitude_spectrum`, `context` [B, n_context] standardised."""
        out = self.head[-1](self.embed(spectrum, context, white_light_radius))
        g = self.n_gases
        return {"mean": out[:, :g], "logvar": out[:, g : 2 * g].clamp(-12.0, 8.0), "biosphere_logit": out[:, 2 * g]}
