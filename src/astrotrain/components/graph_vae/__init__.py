"""The graph VAE: small molecules ↔ a latent space, with valence-masked decoding.

`python train.py --component graph_vae` trains on the enumerated space of small molecules
(≤ 6 heavy atoms of C, N, O, S, P; `space.py`) or on a SMILES file (`--data.smiles PATH`), and
reports validity with and without the mask, uniqueness, novelty and reconstruction.
"""

from __future__ import annotations

from ...config.spec import ComponentSpec, Lends
from .config import GraphVAEConfig

SPEC = ComponentSpec(
    name="graph_vae",
    task="small molecules (≤ 6 heavy atoms of C, N, O, S, P) ↔ latent space, with valence-masked decoding",
    config=GraphVAEConfig,
    order=3,
    datamodule="data:build_datamodule",
    module="module:build_module",
    report="report:report",
    encoder="encoder",
    lends=Lends("gases", position=4, retrieved_through="spectral"),  # the gases the retrieval detects, as molecules
    science_metrics=("validity_masked", "validity_unmasked", "uniqueness_masked", "novelty_masked", "reconstruction"),
    hpo_metric=("reconstruction", "maximize"),
    produces=("checkpoint", "encoder"),
    pipeline_epochs=10,
    uses_universe=False,
)
