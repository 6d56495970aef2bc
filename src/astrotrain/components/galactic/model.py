"""What the observatories train: fusion's trunk on the features of the frozen lent encoders.

The model is fusion's own (`multimodal.module.MultimodalModule`: the same transformer, losses,
modality dropout and held-out metrics), its encoders replaced by `CachedFeatures`, which read
the encoder outputs the shard already holds. Only the trunk's weights travel between the
observatories and the server (`trunk_state` ↔ Flower ArrayRecord).

`local_update`: an observatory's epochs over its shard from the global weights (AdamW, fresh
per round as in FedAvg, McMahan et al. 2017), optionally with FedProx's proximal term
μ/2 ‖w − w_global‖² (Li et al. 2020). `held_out_metrics`: fusion's metrics on a set of planets.
"""

from __future__ import annotations

import torch
from torch import nn

from ..multimodal.module import MultimodalModule


class CachedFeatures(nn.Module):
    """A lent encoder's output, already computed: `batch["features.<modality>"]`."""

    def __init__(self, modality: str, dim: int):
        super().__init__()
        self.key, self.dim = f"features.{modality}", dim
        self.pretrained = nn.Module()  # nothing of it trains (MultimodalModule freezes `pretrained`)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return batch[self.key]


def build_trunk(fusion_cfg, feature_dims: dict[str, int], seed: int) -> MultimodalModule:
    """Fusion's module on cached features, with fresh weights drawn from `seed`."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return MultimodalModule(fusion_cfg.components.multimodal, {m: CachedFeatures(m, d) for m, d in feature_dims.items()})


def trunk_state(module: MultimodalModule) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.model.state_dict().items()}


def local_update(module: MultimodalModule, shard: dict[str, torch.Tensor], epochs: int, batch_size: int, lr: float,
                 weight_decay: float, proximal_mu: float, seed: int) -> dict[str, float]:
    """Train `module` in place on `shard` from its current (global) weights; returns the mean loss."""
    global_weights = [p.detach().clone() for p in module.model.parameters()]
    optimizer = torch.optim.AdamW(module.model.parameters(), lr=lr, weight_decay=weight_decay)
    n = len(shard["state"])
    generator = torch.Generator().manual_seed(seed)
    module.train()
    total, steps = 0.0, 0
    with torch.random.fork_rng():
        torch.manual_seed(seed)  # dropout and modality dropout: one stream per (run seed, round, observatory)
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, batch_size):
                rows = order[start : start + batch_size]
                batch = {k: v.index_select(0, rows) for k, v in shard.items()}
                out = module.model(batch, module.shown_modalities(batch["available"]), batch["available"])
                loss = module.losses(batch, out)["loss"]
                if proximal_mu > 0:
                    loss = loss + proximal_mu / 2 * sum(((p - g) ** 2).sum() for p, g in zip(module.model.parameters(), global_weights))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach())
                steps += 1
    module.eval()
    return {"train_loss": total / max(steps, 1), "steps": steps}


@torch.inference_mode()
def held_out_metrics(module: MultimodalModule, planets: dict[str, torch.Tensor], chunk: int = 512) -> dict[str, float]:
    """Fusion's held-out metrics (accuracy, macro-F1, ECE, ROC-AUC, habitable MAE, score), every modality shown."""
    module.eval()
    n = len(planets["state"])
    for start in range(0, n, chunk):
        module._evaluate({k: v[start : start + chunk] for k, v in planets.items()})
    return {k: float(v) for k, v in module._compute_metrics().items()}
