"""The surrogate transformer: 8 planet parameters → surface climate maps + climate labels.

Design (parameter tokens → field tokens):

* each of the 8 CLERO inputs becomes one token: its normalised value lifted by random-phase-free
  Fourier features (Tancik et al. 2020, "Fourier features let networks learn high frequency
  functions") through a per-parameter linear map, plus a learned identity embedding;
* four learned query tokens — one per output (surface temperature, ASR, OLR, labels) — join
  the parameter tokens in a pre-norm transformer encoder (Vaswani et al. 2017), so every
  output attends to every parameter;
* each field token is read out as the coefficients of a PCA basis of that field, fitted on the
  training split (CLERO itself is a latent-factor model over a few dozen spatial modes, so the
  basis truncation error, 0.05 K on Ts with 48 modes, is far below the 1 K target),
  with a per-coefficient log-variance (the predictive-uncertainty head);
* the label token gives 6 climate-state logits and the habitable surface fraction.

Pure torch, no Lightning: `module.py` owns losses and optimisation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

FIELDS = ("surface_temperature", "asr", "olr")
PER_UNIT_INSTELLATION = (False, True, True)
"""ASR and OLR are modelled as fractions of the instellation F_star (as CLERO does): in energy
balance both scale with F_star, so the fraction is a far smoother function of the inputs."""
F_STAR_INDEX = 1  # position of F_star in the input features (PARAMETER_NAMES order)
N_STATES = 6


class ParameterTokenizer(nn.Module):
    """Normalised scalars `[B, P]` → tokens `[B, P, d]`: per-parameter linear map of Fourier features."""

    def __init__(self, n_params: int, d_model: int, n_fourier: int):
        super().__init__()
        freqs = 2.0 ** torch.linspace(-3.0, 1.0, n_fourier) if n_fourier else torch.zeros(0)
        self.register_buffer("freqs", freqs * math.pi, persistent=False)
        n_features = 1 + 2 * n_fourier
        self.weight = nn.Parameter(torch.randn(n_params, n_features, d_model) / math.sqrt(n_features))
        self.bias = nn.Parameter(torch.zeros(n_params, d_model))
        self.identity = nn.Parameter(torch.randn(n_params, d_model) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = x.unsqueeze(-1) * self.freqs  # [B, P, F]
        features = torch.cat([x.unsqueeze(-1), torch.sin(angles), torch.cos(angles)], dim=-1)
        return torch.einsum("bpf,pfd->bpd", features, self.weight) + self.bias + self.identity


class SurrogateTransformer(nn.Module):
    """Planet parameters → PCA coefficients (+ log-variances) per field, state logits, habitable fraction.

    Field maps are reconstructed by `decode_fields` from the PCA buffers that the data module
    fits on the training split (`set_basis`); they travel in the state dict, so a checkpoint
    alone reproduces the predictions.
    """

    def __init__(
        self,
        n_params: int = 8,
        n_pixels: int = 32 * 64,
        n_components: int = 48,
        d_model: int = 128,
        n_heads: int = 4,
        n_layers: int = 4,
        dropout: float = 0.0,
        n_fourier: int = 16,
    ):
        super().__init__()
        self.n_components = n_components
        self.tokenizer = ParameterTokenizer(n_params, d_model, n_fourier)
        self.queries = nn.Parameter(torch.randn(len(FIELDS) + 1, d_model) * 0.02)  # field tokens + label token
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, dim_feedforward=4 * d_model, dropout=dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.field_heads = nn.ModuleList(nn.Linear(d_model, n_components) for _ in FIELDS)
        # the uncertainty head reads detached features: the NLL calibrates it without steering the trunk
        self.logvar_heads = nn.ModuleList(nn.Linear(d_model, n_components) for _ in FIELDS)
        self.label_head = nn.Linear(d_model, N_STATES + 1)
        # linear path from the inputs to the coefficients: CLERO's GP mean function is a linear
        # trend in its (log/arcsinh-scaled) inputs, so the transformer only learns the residual
        self.linear_trend = nn.Linear(n_params, len(FIELDS) * n_components)
        # PCA basis per field (fit on the train split): map = mean + scale * coeffs @ components
        self.register_buffer("input_mean", torch.zeros(n_params))
        self.register_buffer("input_std", torch.ones(n_params))
        self.register_buffer("pca_mean", torch.zeros(len(FIELDS), n_pixels))
        self.register_buffer("pca_components", torch.zeros(len(FIELDS), n_components, n_pixels))
        self.register_buffer("pca_scale", torch.ones(len(FIELDS)))
        # post-hoc calibration of the predicted σ per field (module.calibrate_uncertainty, validation split)
        self.register_buffer("sigma_scale", torch.ones(len(FIELDS)))

    def set_basis(self, input_mean, input_std, pca_mean, pca_components, pca_scale) -> None:
        for name, value in zip(
            ("input_mean", "input_std", "pca_mean", "pca_components", "pca_scale"),
            (input_mean, input_std, pca_mean, pca_components, pca_scale),
        ):
            getattr(self, name).copy_(torch.as_tensor(value, dtype=torch.float32))

    def hidden(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalised inputs `[B, 8]`, final token states `[B, 8 + 4, d]`): the trunk, also lent to fusion."""
        x = (features - self.input_mean) / self.input_std
        tokens = torch.cat([self.tokenizer(x), self.queries.expand(x.shape[0], -1, -1)], dim=1)
        return x, self.norm(self.encoder(tokens))

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """`features`: transformed inputs `[B, 8]` (log10 of log-sampled parameters), not yet normalised."""
        x, hidden = self.hidden(features)
        out_tokens = hidden[:, -(len(FIELDS) + 1) :]
        trend = self.linear_trend(x).view(x.shape[0], len(FIELDS), self.n_components)
        mean = torch.stack([head(out_tokens[:, i]) for i, head in enumerate(self.field_heads)], dim=1) + trend
        detached = out_tokens.detach()
        logvar = torch.stack([head(detached[:, i]) for i, head in enumerate(self.logvar_heads)], dim=1)
        labels = self.label_head(out_tokens[:, -1])
        return {
            "coeff_mean": mean,  # [B, F, K], in units of pca_scale
            "coeff_logvar": logvar.clamp(-20.0, 10.0),
            "state_logits": labels[:, :N_STATES],
            "habitable_fraction": torch.sigmoid(labels[:, N_STATES]),
        }

    def surface_temperature(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(surface-T maps `[B, n_pixels]` in K, climate-state logits `[B, 6]`): what serving returns, and
        only that — `forward` + `decode_fields(...)[:, 0]` (up to float rounding) without the ASR/OLR and
        uncertainty heads or their decoding (two thirds of the read-out's work)."""
        x, hidden = self.hidden(features)
        ts_token, label_token = hidden[:, -(len(FIELDS) + 1)], hidden[:, -1]
        trend = self.linear_trend(x)[:, : self.n_components]  # the Ts block of the trend (field-major view in forward)
        coeffs = (self.field_heads[0](ts_token) + trend) * self.pca_scale[0]
        ts = self.pca_mean[0] + coeffs @ self.pca_components[0]  # Ts is not modelled per unit instellation
        return ts, self.label_head(label_token)[:, :N_STATES]

    def decode_fields(self, coeff_mean: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """PCA coefficients `[B, F, K]` → flattened maps `[B, F, n_pixels]` in physical units."""
        scaled = coeff_mean * self.pca_scale[None, :, None]
        maps = self.pca_mean + torch.einsum("bfk,fkp->bfp", scaled, self.pca_components)
        return maps * self.physical_factor(features)

    def decode_variance(self, coeff_logvar: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Per-pixel predictive variance `[B, F, n_pixels]` (coefficients treated as independent)."""
        var = coeff_logvar.exp() * (self.pca_scale * self.sigma_scale)[None, :, None] ** 2
        return torch.einsum("bfk,fkp->bfp", var, self.pca_components**2) * self.physical_factor(features) ** 2

    @staticmethod
    def physical_factor(features: torch.Tensor) -> torch.Tensor:
        """`[B, F, 1]`: F_star for fields modelled per unit instellation, 1 otherwise."""
        f_star = features[:, F_STAR_INDEX]
        ones = torch.ones_like(f_star)
        return torch.stack([f_star if scaled else ones for scaled in PER_UNIT_INSTELLATION], dim=1).unsqueeze(-1)
