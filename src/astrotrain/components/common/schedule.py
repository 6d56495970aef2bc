"""The learning-rate schedule every component uses: linear warm-up, then cosine decay to a floor."""

from __future__ import annotations

import math

import torch


def planned_steps(trainer, n_train: int, batch_size: int) -> int:
    """Optimiser steps the run will take, from the config alone.

    Not `trainer.estimated_stepping_batches`: calling it from `configure_optimizers` sets up
    the train loader before a checkpoint is restored, and Lightning then never hands the
    loader its saved position — a resumed run would see a different batch order.
    """
    per_process = n_train // max(1, trainer.world_size)
    per_epoch = max(1, per_process // batch_size if per_process > batch_size else 1)  # drop_last when shuffling
    by_epochs = per_epoch * trainer.max_epochs
    return max(1, min(by_epochs, trainer.max_steps) if trainer.max_steps > 0 else by_epochs)


class WarmupCosine:
    """LR multiplier: linear warm-up over `warmup` steps, then cosine decay to `floor` at `total` (picklable)."""

    def __init__(self, warmup: int, total: int, floor: float):
        self.warmup, self.total, self.floor = warmup, total, floor

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def with_warmup_cosine(optimizer, trainer, cfg) -> dict:
    """Lightning's optimizer dict: `optimizer` under a per-step warm-up + cosine schedule spanning the run.

    `cfg` needs batch_size, warmup_steps and min_lr_ratio; the datamodule, a `datasets["train"]`.
    """
    total = planned_steps(trainer, len(trainer.datamodule.datasets["train"]), cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(cfg.warmup_steps, total, cfg.min_lr_ratio))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
