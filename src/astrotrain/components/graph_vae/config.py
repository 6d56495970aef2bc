"""Settings of the graph VAE component (`components.graph_vae` in the master config)."""

from __future__ import annotations

from pydantic import Field

from ...config.base import component_section


class GraphVAEConfig(
    component_section("GraphVAE", unit="molecules", max_epochs=30, batch_size=256, lr=0.002, weight_decay=1e-05, warmup_steps=100, min_lr_ratio=0.02)
):
    max_atoms: int = Field(6, ge=1, le=9, description="heavy atoms per molecule: the enumerated space and the decoder's slots")
    cache_dir: str = Field("data/molecules", description="cache of enumerated molecule spaces, keyed by their recipe")
    max_molecules: int = Field(40000, ge=0, description="molecules drawn (seeded, uniformly) from the data; 0 = all")
    node_dim: int = Field(64, ge=4, le=1024, description="atom embedding width in the encoder")
    gnn_layers: int = Field(3, ge=1, le=12, description="dense relational message-passing layers")
    hidden: int = Field(512, ge=8, le=8192, description="width of the encoder and decoder MLPs")
    latent_dim: int = Field(32, ge=1, le=1024, description="dimensions of z")
    kl_weight: float = Field(0.8, ge=0, description="β of the KL term at the end of its warm-up")
    kl_warmup_steps: int = Field(1000, ge=0, description="β grows linearly from 0 over these steps")
    masked_decoding: bool = Field(True, description="valence-masked decoding for generated molecules (both are measured)")
    n_samples: int = Field(5000, ge=1, description="molecules sampled from the prior for validity, uniqueness, novelty")
