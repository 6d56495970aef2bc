"""LightningModule of the graph VAE: ELBO with KL warm-up, and the generative-chemistry metrics.

Loss per molecule = cross-entropy of every atom slot + of every bond slot (i < j) + β · KL(q(z|G) ‖ N(0, I)),
β rising linearly from 0 to `kl_weight` over `kl_warmup_steps` (Bowman et al. 2016).

Validation: reconstruction accuracy on the validation molecules (masked decoding of the mean).
Test: reconstruction on the test molecules, and `n_samples` molecules drawn from the prior
(a seeded generator, so the same checkpoint gives the same figures) decoded with and without
the valence mask: validity, uniqueness, novelty (vs the training molecules), stable share.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from ..common.schedule import with_warmup_cosine
from . import metrics
from .model import GraphVAE, decode_argmax, decode_masked


class GraphVAEModule(L.LightningModule):
    def __init__(self, cfg, train_smiles: set[str], seed: int = 0):
        super().__init__()
        self.cfg, self.train_smiles, self.seed = cfg, train_smiles, seed
        self.model = GraphVAE(cfg.max_atoms, cfg.node_dim, cfg.gnn_layers, cfg.hidden, cfg.latent_dim)
        pairs = torch.triu_indices(cfg.max_atoms, cfg.max_atoms, offset=1)
        self.register_buffer("pair_rows", pairs[0], persistent=False)
        self.register_buffer("pair_cols", pairs[1], persistent=False)
        self._counts: dict[str, torch.Tensor] = {}

    def kl_beta(self) -> float:
        c = self.cfg
        return c.kl_weight * min(1.0, self.global_step / c.kl_warmup_steps) if c.kl_warmup_steps else c.kl_weight

    def losses(self, batch) -> dict[str, torch.Tensor]:
        atoms, bonds = batch["atoms"], batch["bonds"]
        atom_logits, bond_logits, mean, log_var = self.model(atoms, bonds)
        atom_ce = F.cross_entropy(atom_logits.flatten(0, 1), atoms.flatten(), reduction="sum") / len(atoms)
        pair_logits = bond_logits[:, self.pair_rows, self.pair_cols]
        bond_ce = F.cross_entropy(pair_logits.flatten(0, 1), bonds[:, self.pair_rows, self.pair_cols].flatten(), reduction="sum") / len(atoms)
        kl = -0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum(dim=1).mean()
        return {"loss": atom_ce + bond_ce + self.kl_beta() * kl, "atom_ce": atom_ce, "bond_ce": bond_ce, "kl": kl}

    def training_step(self, batch, batch_idx):
        parts = self.losses(batch)
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log_dict({f"train/{k}": v for k, v in parts.items()}, on_step=True, on_epoch=False, batch_size=len(batch["atoms"]))
        return parts["loss"]

    # -- evaluation ---------------------------------------------------------------------------
    @torch.no_grad()
    def reconstruct(self, atoms: torch.Tensor, bonds: torch.Tensor) -> list[str | None]:
        mean, _ = self.model.encode(atoms, bonds)
        return metrics.smiles_of_graphs(*decode_masked(*self.model.decode(mean)))

    def _accumulate(self, batch) -> None:
        decoded = self.reconstruct(batch["atoms"], batch["bonds"])
        targets = metrics.smiles_of_graphs(batch["atoms"], batch["bonds"])
        correct = sum(d == t for d, t in zip(decoded, targets))
        for name, value in (("correct", correct), ("n", len(targets))):
            self._counts[name] = self._counts.get(name, 0) + torch.tensor(float(value), dtype=torch.float64, device=self.device)

    def _reconstruction(self) -> float:
        counts, self._counts = self._counts, {}
        if self.trainer.world_size > 1:
            counts = {k: self.all_gather(v).sum() for k, v in counts.items()}
        return float(counts["correct"] / counts["n"])

    def validation_step(self, batch, batch_idx):
        self._accumulate(batch)

    def test_step(self, batch, batch_idx):
        self._accumulate(batch)

    def on_validation_epoch_end(self):
        self.log("val/reconstruction", self._reconstruction())

    def on_test_epoch_end(self):
        out = {"reconstruction": self._reconstruction(), **self.sample_metrics(self.cfg.n_samples)}
        self.log_dict({f"test/{k}": v for k, v in out.items()})

    @torch.no_grad()
    def sample_metrics(self, n: int) -> dict[str, float]:
        """Generation metrics of n prior samples, with and without the valence mask (same latents)."""
        generator = torch.Generator(device="cpu").manual_seed(self.seed)
        z = torch.randn(n, self.cfg.latent_dim, generator=generator).to(self.device)
        logits = self.model.decode(z)
        out = {}
        for name, decoder in (("masked", decode_masked), ("unmasked", decode_argmax)):
            for key, value in metrics.generation_metrics(metrics.smiles_of_graphs(*decoder(*logits)), self.train_smiles).items():
                out[f"{key}_{name}"] = value
        return out

    def configure_optimizers(self):
        c = self.cfg
        optimizer = torch.optim.AdamW(self.parameters(), lr=c.lr, weight_decay=c.weight_decay, foreach=True)
        return with_warmup_cosine(optimizer, self.trainer, c)


def build_module(cfg, datamodule) -> GraphVAEModule:
    datamodule.setup("fit")
    return GraphVAEModule(cfg.components.graph_vae, set(datamodule.smiles["train"]), cfg.run.seed)
