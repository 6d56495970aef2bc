"""Distil the surrogate transformer into `FastSurrogate`, the model production serves at scale.

Planets are drawn from the universe's own prior (`universe.sampling.sample_parameters`, the same
ranges the training universe was drawn from, a seed of its own), labelled with the teacher's
surface-temperature PCA coefficients, and the student regresses the leading
`student_components` of them (squared error summed over modes = the map's relative squared
error, as the surrogate's own loss). No held-out planet's truth is used: the student's test
error is measured afterwards against CLERO's maps of the test split, like the teacher's.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from ...data.features import parameter_features
from ...universe.sampling import sample_parameters
from .model import TS, FastSurrogate

PRIOR_SEED_OFFSET = 7_919  # the distillation planets' seed = run.seed + this: never the universe's own draw


def prior_features(n: int, seed: int, universe_cfg) -> np.ndarray:
    """Features `[n, 8]` of planets drawn from the universe's prior."""
    drawn = sample_parameters(n, seed, tuple(universe_cfg.co2_range), tuple(universe_cfg.ch4_range))
    return parameter_features(pd.DataFrame(drawn))


def distill(teacher, pc, universe_cfg, seed: int, log=print) -> tuple[FastSurrogate, dict]:
    """Train the student; returns it (eval mode) and its training record."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    k = min(pc.student_components, teacher.n_components)
    x = torch.from_numpy(prior_features(pc.distill_planets, seed + PRIOR_SEED_OFFSET, universe_cfg))
    with torch.inference_mode():
        target = torch.cat([teacher(chunk)["coeff_mean"][:, TS, :k] for chunk in x.split(4096)])
    labelled = time.perf_counter() - started
    student = FastSurrogate(teacher.pca_mean.shape[-1], k, pc.student_width, pc.student_depth)
    with torch.no_grad():
        student.set_basis(x.mean(0), x.std(0) + 1e-6, teacher.pca_mean[TS], teacher.pca_components[TS, :k], float(teacher.pca_scale[TS]))
    params = [p for p in student.parameters() if p.requires_grad]
    steps_per_epoch = pc.distill_planets // pc.distill_batch_size
    optimiser = torch.optim.AdamW(params, lr=pc.distill_lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, pc.distill_lr, total_steps=max(1, steps_per_epoch * pc.distill_epochs))
    generator = torch.Generator().manual_seed(seed)
    losses = []
    student.train()
    for epoch in range(pc.distill_epochs):
        order = torch.randperm(len(x), generator=generator)
        total = torch.zeros(())
        for step in range(steps_per_epoch):
            rows = order[step * pc.distill_batch_size:(step + 1) * pc.distill_batch_size]
            loss = (student.coefficients(x[rows]) - target[rows]).pow(2).sum(dim=1).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.detach()
        losses.append(float(total) / max(1, steps_per_epoch))
        if epoch == 0 or (epoch + 1) % 10 == 0 or epoch + 1 == pc.distill_epochs:
            log(f"production: distillation epoch {epoch + 1}/{pc.distill_epochs}, loss {losses[-1]:.3e}")
    student.eval()
    record = {"planets": pc.distill_planets, "prior_seed": seed + PRIOR_SEED_OFFSET, "components": k, "width": pc.student_width,
              "depth": pc.student_depth, "epochs": pc.distill_epochs, "loss_per_epoch": losses,
              "parameters": sum(p.numel() for p in params), "labelling_s": round(labelled, 1),
              "wall_time_s": round(time.perf_counter() - started, 1)}
    return student, record
