"""The held-out half of a LightningModule that every component shares.

Validation and test batches go to `_evaluate(batch)` (which updates torchmetrics); at the end of
the epoch `_compute_metrics()` returns {name: value} (and resets), logged as `val/<name>` or
`test/<name>` — the keys of metrics.json.
"""

from __future__ import annotations

import torch


class HeldOutMetrics:
    def _evaluate(self, batch) -> None:  # pragma: no cover - each component defines it
        raise NotImplementedError

    def _compute_metrics(self) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch)

    def test_step(self, batch, batch_idx):
        self._evaluate(batch)

    def on_validation_epoch_end(self):
        self.log_dict({f"val/{k}": v for k, v in self._compute_metrics().items()})

    def on_test_epoch_end(self):
        self.log_dict({f"test/{k}": v for k, v in self._compute_metrics().items()})


def adamw(model: torch.nn.Module, cfg, exempt_names: tuple[str, ...] = ()) -> torch.optim.AdamW:
    """AdamW at cfg.lr with cfg.weight_decay on matrices only: vectors (biases, norms) and
    parameters whose name contains one of `exempt_names` are not decayed."""
    decay, exempt = [], []
    for name, p in model.named_parameters():
        (exempt if p.ndim < 2 or any(k in name for k in exempt_names) else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": exempt, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, foreach=True)
