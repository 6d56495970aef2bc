"""The learning-rate schedule every component uses: linear warm-up, then cosine decay to a floor; and the
per-parameter learning-rate scales of a run started from another's weights (`engine/lineage.py`)."""

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


LR_SCALE = "lr_scale"  # attribute the engine sets on a parameter: its learning rate as a multiple of its group's (0: frozen)


def apply_lr_scales(optimizer) -> None:
    """Split each parameter group of a fresh optimiser by its parameters' `lr_scale`, dropping frozen ones;
    without scales (a run from fresh weights) the groups stay as they are, so old checkpoints still resume."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if not any(hasattr(p, LR_SCALE) for p in params):
        return
    groups = []
    for group in optimizer.param_groups:
        by_scale: dict[float, list] = {}
        for p in group["params"]:
            scale = getattr(p, LR_SCALE, 1.0)
            if scale > 0 and p.requires_grad:
                by_scale.setdefault(scale, []).append(p)
        groups += [{**group, "params": ps, "lr": group["lr"] * scale} for scale, ps in sorted(by_scale.items())]
    optimizer.param_groups = groups


def with_warmup_cosine(optimizer, trainer, cfg) -> dict:
    """Lightning's optimizer dict: `optimizer` under a per-step warm-up + cosine schedule spanning the run.

    `cfg` needs batch_size, warmup_steps and min_lr_ratio; the datamodule, a `datasets["train"]`.
    """
    apply_lr_scales(optimizer)
    total = planned_steps(trainer, len(trainer.datamodule.datasets["train"]), cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(cfg.warmup_steps, total, cfg.min_lr_ratio))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
