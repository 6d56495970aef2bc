"""The retrieval network: a residual 1D CNN reads a transmission spectrum; a posterior head
(posterior.py) turns what it read into a distribution over the planet's parameters; P(biosphere)
is the biosphere likelihood of the gases averaged over that posterior.

Why a CNN and not a transformer: on a fixed instrument grid every absorption band is a local
pattern a few bins wide whose *depth relative to the neighbouring continuum* carries the
abundance (R ∝ H ln κ) — exactly what stacked convolutions see, at O(bins) cost (a 370-bin
spectrum trains in minutes on 2 CPU cores). The transformer's strength, irregular grids,
is not needed once observed spectra are binned onto the instrument grid (observed.py).
Position matters (a feature at 4.3 µm is CO2, at 3.3 µm CH4), so the last feature map is
flattened, not pooled.

Input: the spectrum as an *altitude spectrum*, z(λ) = (R(λ) − R̄) / H_ref with R = √depth · R⋆,
R̄ its mean over the bins and H_ref = k T_ref / (μ_ref m_u g) (T_ref/μ_ref = 250 K / 29 for the
universe's rocky planets, 1000 K / 2.3 for the Ariel challenge's H2-rich giants): features then have
the same size around a Sun-like star and an M dwarf, and z's noise, σ_z = σ R⋆ / (2 √depth H_ref), is
the second input channel. Context: the standardised observer's facts (T⋆ and g for the universe; the
challenge's 9 auxiliary values) and R̄ (the white-light radius), each standardised on the training
split, joining the spectrum's features after their projection to the hidden width.

P(biosphere | x) = ∫ P(biosphere | gases) q(gases | x) d gases (the spectrum depends on life only
through the gases it leaves): a small classifier of the biosphere flag from the true log abundances
of the training planets, averaged over posterior samples at inference. The retrieval's uncertainty
thus flows into P(biosphere), and no classifier is trained from the spectrum to the label.
"""

from __future__ import annotations

import torch
from torch import nn

from .forward import K_B, M_U, R_EARTH
from .posterior import build_posterior, seeded

ROCKY_T_OVER_MU = 250.0 / 29.0  # K mol/g: the reference scale height of an N2/CO2 atmosphere at 250 K


def altitude_spectrum(depth: torch.Tensor, sigma: torch.Tensor, r_star: torch.Tensor, gravity: torch.Tensor,
                      t_over_mu: torch.Tensor | float = ROCKY_T_OVER_MU) -> tuple[torch.Tensor, torch.Tensor]:
    """([B, 2, bins] (z, log σ_z), [B] white-light radius in R_earth) of depths `[B, bins]`."""
    root = depth.clamp_min(1e-12).sqrt()
    radius = root * r_star[:, None]
    h_ref = (K_B * t_over_mu / (M_U * gravity))[:, None]
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
    """Altitude spectrum + context → an embedding `[B, hidden]` of what the spectrum says."""

    def __init__(self, n_bins: int, n_context: int, width: int = 32, stages: int = 4, hidden: int = 256, dropout: float = 0.0):
        super().__init__()
        self.hidden = hidden
        self.stem = nn.Sequential(nn.Conv1d(2, width, 7, padding=3), nn.GELU())
        blocks, c = [], width
        for s in range(stages):
            blocks.append(ResidualBlock1d(c, width * 2**s, stride=2, dropout=dropout))
            c = width * 2**s
        self.blocks = nn.Sequential(*blocks)
        length = n_bins
        for _ in range(stages):
            length = (length - 1) // 2 + 1
        # the spectrum's features are projected before the scalars join them: a scalar among thousands of
        # feature inputs is learnt too slowly (the radius, read from R̄ alone, stayed at R² ≈ 0.1)
        self.project = nn.Sequential(nn.Linear(c * length, hidden), nn.GELU(), nn.Dropout(dropout))
        self.head = nn.Sequential(
            nn.Linear(hidden + n_context + 1, hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.GELU(),
        )

    def forward(self, spectrum: torch.Tensor, context: torch.Tensor, white_light_radius: torch.Tensor) -> torch.Tensor:
        """`spectrum` [B, 2, bins] from `altitude_spectrum`, `context` [B, n_context] standardised."""
        features = self.project(self.blocks(self.stem(spectrum)).flatten(1))
        return self.head(torch.cat([features, context, white_light_radius[:, None]], dim=1))


def full_precision(h: torch.Tensor):
    """Autocast off: posterior densities and samples in float32 even in a mixed-precision run (bf16's
    spacing, 0.008 near 1, is as wide as the radius posterior in standardised units)."""
    return torch.autocast(h.device.type, enabled=False)


NORMALISATION = ("target_mean", "target_std", "context_mean", "context_std", "radius_mean", "radius_std", "t_over_mu")
"""Buffers fitted on the training split that make inputs standard and outputs physical."""


class SpectralRetrieval(nn.Module):
    """CNN + posterior head (+ the gases' biosphere likelihood), with the normalisation buffers.

    `stats` holds NORMALISATION's arrays; `n_gases` leading targets are log10 abundances."""

    def __init__(self, cfg, n_bins: int, stats: dict, n_gases: int, biosphere: bool):
        super().__init__()
        for name in NORMALISATION:
            self.register_buffer(name, torch.as_tensor(stats[name], dtype=torch.float32).clone())
        self.n_gases, self.samples = n_gases, cfg.posterior_samples
        self.cnn = SpectralCNN(n_bins, self.context_mean.shape[0], cfg.width, cfg.stages, cfg.hidden, cfg.dropout)
        self.posterior = build_posterior(cfg, cfg.hidden, self.target_mean.shape[0])
        self.biosphere = nn.Sequential(nn.Linear(n_gases, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1)) if biosphere else None

    def embed(self, depth, sigma, context, r_star, gravity) -> torch.Tensor:
        spectrum, radius = altitude_spectrum(depth, sigma, r_star, gravity, self.t_over_mu)
        return self.cnn(spectrum, (context - self.context_mean) / self.context_std, (radius - self.radius_mean) / self.radius_std)

    def standardise(self, theta: torch.Tensor) -> torch.Tensor:
        return (theta - self.target_mean) / self.target_std

    def biosphere_logit(self, theta_std: torch.Tensor) -> torch.Tensor:
        """Logit of P(biosphere | gases) of standardised targets `[..., D]` → `[...]` (gases read only)."""
        return self.biosphere(theta_std[..., : self.n_gases]).squeeze(-1)

    def forward(self, depth, sigma, context, r_star, gravity, seed: int = 0) -> dict[str, torch.Tensor]:
        """The retrieval of a batch: `samples` `[n, B, D]` (standardised) of q(θ | x), the embedding `h`,
        and physical read-outs: posterior `mean` and `std` `[B, D]`, log10_abundance and sigma_dex
        `[B, gases]`, p_biosphere `[B]` where the data have a biosphere. Sampling is seeded by `seed`."""
        h = self.embed(depth, sigma, context, r_star, gravity).float()
        with seeded(seed, h.device), full_precision(h):
            samples = self.posterior.sample(h, self.samples)
        physical = samples * self.target_std + self.target_mean
        out = {"h": h, "samples": samples, "mean": physical.mean(dim=0), "std": physical.std(dim=0)}
        out["log10_abundance"], out["sigma_dex"] = out["mean"][:, : self.n_gases], out["std"][:, : self.n_gases]
        if self.biosphere is not None:
            out["p_biosphere"] = torch.sigmoid(self.biosphere_logit(samples)).mean(dim=0)
        return out
