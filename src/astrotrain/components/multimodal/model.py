"""The fusion transformer: one token per modality, from the encoders the pretrained components lend.

Each lent encoder turns its modality into a vector; a linear projection + LayerNorm makes it a
`d_model` token, tagged with a learned modality embedding. A [CLS] token and the modality tokens
go through a pre-norm transformer encoder in which absent modalities are masked out of
attention (`src_key_padding_mask`), so any non-empty subset can be given at inference — a
real planet has its parameters and perhaps a spectrum, nothing else. The [CLS] state is read
by three heads: climate state (6 logits), habitable surface fraction (sigmoid) and P(biosphere)
(logit). Each token also has an alignment projection for the cross-modal contrastive loss
(CLIP, Radford et al. 2021: same planet = positive pair).

Pure torch, no Lightning: `module.py` owns losses, modality dropout and the freeze schedule.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

N_STATES = 6


class FusionTransformer(nn.Module):
    def __init__(self, encoders: dict[str, nn.Module], d_model: int = 64, n_heads: int = 4, n_layers: int = 2,
                 dropout: float = 0.1, align_dim: int = 32):
        super().__init__()
        self.modalities = list(encoders)
        # ModuleLists in modality order ("parameters" cannot be a ModuleDict key: every Module has that attribute)
        self.encoders = nn.ModuleList(encoders.values())
        self.project = nn.ModuleList(nn.Sequential(nn.Linear(e.dim, d_model), nn.LayerNorm(d_model)) for e in encoders.values())
        self.modality_embedding = nn.Parameter(torch.randn(len(encoders), d_model) * 0.02)
        self.cls = nn.Parameter(torch.randn(1, 1, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, 4 * d_model, dropout, activation="gelu", batch_first=True, norm_first=True)
        self.fusion = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.align = nn.ModuleList(nn.Linear(d_model, align_dim) for _ in encoders)
        self.heads = nn.Linear(d_model, N_STATES + 2)

    def tokens(self, batch: dict[str, torch.Tensor], encoded: torch.Tensor, encode: list[bool] | None = None) -> torch.Tensor:
        """Modality tokens `[B, M, d]`; a modality no planet of the batch has (`encoded` [B, M]) is not
        encoded at all (its inputs need not be in the batch) and gets a zero token, masked later.
        `encode` (one bool per modality) fixes that choice up front (an exported graph has no data-dependent branch)."""
        b = encoded.shape[0]
        encode = [bool(encoded[:, i].any()) for i in range(len(self.encoders))] if encode is None else encode
        tokens = [
            project(encoder(batch)) if encode[i] else self.modality_embedding.new_zeros(b, self.modality_embedding.shape[1])
            for i, (encoder, project) in enumerate(zip(self.encoders, self.project))
        ]
        return torch.stack(tokens, dim=1) + self.modality_embedding

    def forward(self, batch: dict[str, torch.Tensor], present: torch.Tensor, available: torch.Tensor | None = None,
                encode: list[bool] | None = None) -> dict[str, torch.Tensor]:
        """`present` [B, M] bool: the modalities the fusion attends to (at least one per row);
        `available` (default `present`): those that exist, encoded for the alignment loss; `encode`: see `tokens`."""
        tokens = self.tokens(batch, present if available is None else available, encode)
        x = torch.cat([self.cls.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        mask = torch.cat([present.new_zeros(present.shape[0], 1), ~present], dim=1)  # True = ignored
        h = self.norm(self.fusion(x, src_key_padding_mask=mask))
        out = self.heads(h[:, 0])
        return {
            "state_logits": out[:, :N_STATES],
            "habitable_fraction": torch.sigmoid(out[:, N_STATES]),
            "biosphere_logit": out[:, N_STATES + 1],
            "embedding": h[:, 0],  # the fused planet embedding (the LLM's prefix)
            "aligned": torch.stack([F.normalize(align(tokens[:, i]), dim=-1) for i, align in enumerate(self.align)], dim=1),
        }


def alignment_loss(aligned: torch.Tensor, available: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE over every pair of modalities, averaged: for modalities i and j, planet b's
    i-embedding must pick out b's own j-embedding among the batch's (planets that show both)."""
    losses = []
    n = aligned.shape[1]
    for i in range(n):
        for j in range(i + 1, n):
            rows = available[:, i] & available[:, j]
            if rows.sum() < 2:
                continue
            logits = aligned[rows, i] @ aligned[rows, j].T / temperature
            target = torch.arange(logits.shape[0], device=logits.device)
            losses.append(0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)))
    return torch.stack(losses).mean() if losses else aligned.sum() * 0.0
