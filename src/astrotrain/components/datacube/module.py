"""LightningModule of the datacube U-Net: losses, constraints, science metrics, optimiser.

Loss = Huber loss (δ = 1) of every (field, level) in units of its training anomaly's standard
deviation — quadratic for ordinary errors, linear for the heavy tail of humidity on the hottest
planets, whose squared errors would otherwise dominate every other field's gradient
[+ w_rh · relative-humidity penalty + w_stab · static-stability penalty with
`physics.constraints`, which also switches the output layer to q = softplus (≥ 0) and
cloud = sigmoid (in [0, 1])]. Global energy balance is not constrained here: ASR and OLR are
inputs of this model, not outputs.

Metrics (area-weighted, per field and level, in physical units): RMSE, the same for the
per-pixel training-mean cube and — for temperature — for copying the surface temperature
upward; constraint residuals of the predictions and of the truth, logged with and without
the flag.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from clero.climate_analysis import latitude_centers

from ...universe.labels import area_weights
from ..common.heldout import HeldOutMetrics
from ..common.schedule import with_warmup_cosine
from . import physics
from .model import DatacubeUNet


class DatacubeModule(HeldOutMetrics, L.LightningModule):
    def __init__(self, cfg, stats: dict[str, np.ndarray], levels: np.ndarray, physics_constraints: bool):
        super().__init__()
        self.cfg, self.physics_constraints = cfg, physics_constraints
        self.fields = list(cfg.target_fields)
        latitude = np.asarray(stats["latitude"]) if "latitude" in stats else latitude_centers(np.asarray(stats["mean_cube"]).shape[-2])
        self.model = DatacubeUNet(len(cfg.input_fields), len(self.fields), len(levels), width=cfg.width, depth=cfg.depth,
                                  poles_on_grid=bool(np.abs(latitude).max() >= 89.99))
        as_tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        self.register_buffer("target_mean", as_tensor(stats["target_mean"]))  # [F, L]
        self.register_buffer("target_std", as_tensor(stats["target_std"]))
        self.register_buffer("mean_cube", as_tensor(stats["mean_cube"]))  # [F, L, H, W]
        self.register_buffer("level_coord", as_tensor(np.linspace(0.0, 1.0, len(levels))))
        sin_lat = np.sin(np.deg2rad(latitude))
        self.register_buffer("sin_latitude", as_tensor(sin_lat), persistent=False)
        self.register_buffer("area_weights", as_tensor(stats["area_weights"] if "area_weights" in stats else area_weights()), persistent=False)
        self._sums: dict[str, torch.Tensor] = {}

    # -- forward ----------------------------------------------------------------------------
    def forward(self, batch) -> torch.Tensor:
        """Predicted fields in physical units `[B, F, L, H, W]`: the training-mean cube plus the
        network's anomaly (in units of each field and level's standard deviation). A batch with a
        time axis is first folded (`fold_time`), so B counts (planet, time step) samples."""
        batch = fold_time(batch)
        raw = self.model(batch["maps"], batch["params"], self.level_coord, self.sin_latitude)
        std = self.target_std[None, :, :, None, None]
        out = self.mean_cube + raw * std
        if self.physics_constraints:  # hard: the same anomaly, passed through a bounded output layer
            channels = list(out.unbind(dim=1))
            if "specific_humidity" in self.fields:
                i = self.fields.index("specific_humidity")
                base = _inverse_softplus(self.mean_cube[i] / std[:, i])
                channels[i] = physics.constrain_humidity(raw[:, i] + base, 1.0) * std[:, i]
            if "cloud_fraction" in self.fields:
                i = self.fields.index("cloud_fraction")
                base = torch.logit(self.mean_cube[i].clamp(1e-4, 1 - 1e-4))
                channels[i] = physics.constrain_cloud_fraction(raw[:, i] + base)
            out = torch.stack(channels, dim=1)
        return out

    def losses(self, pred: torch.Tensor, batch) -> dict[str, torch.Tensor]:
        std = self.target_std[None, :, :, None, None]
        parts = {"fit": F.smooth_l1_loss(pred / std, batch["target"] / std)}  # Huber, δ = 1 anomaly std
        parts["loss"] = parts["fit"]
        if self.physics_constraints:
            for name, value in self.penalties(pred, batch).items():
                parts[name] = value
                parts["loss"] = parts["loss"] + getattr(self.cfg, f"{name.removesuffix('_penalty')}_weight") * value
        return parts

    def penalties(self, pred: torch.Tensor, batch) -> dict[str, torch.Tensor]:
        out = {}
        if "temperature" not in self.fields:
            return out
        t = pred[:, self.fields.index("temperature")]
        p, eps, kappa = per_planet_air(batch)
        if "specific_humidity" in self.fields:
            i = self.fields.index("specific_humidity")
            truth_rh = batch["target"][:, i] / physics.saturation_specific_humidity(batch["target"][:, self.fields.index("temperature")], p, eps)
            out["rh_penalty"] = physics.relative_humidity_penalty(pred[:, i], t, p, eps, self.cfg.rh_tolerance, allowed=truth_rh)
        out["stability_penalty"] = physics.static_stability_penalty(t, p, kappa, level_dim=1, tolerance_k=self.cfg.stability_tolerance_k)
        return out

    # -- steps --------------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        batch = fold_time(batch)
        parts = self.losses(self(batch), batch)
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log_dict({f"train/{k}": v for k, v in parts.items()}, on_step=True, on_epoch=False, batch_size=len(batch["params"]))
        return parts["loss"]

    # -- science metrics ----------------------------------------------------------------------
    def _add(self, name: str, value: torch.Tensor) -> None:
        self._sums[name] = self._sums.get(name, 0) + value.detach().double()

    @torch.no_grad()
    def _evaluate(self, batch) -> None:
        batch = fold_time(batch)
        pred, truth, w = self(batch), batch["target"], self.area_weights
        self._add("n", torch.tensor(float(len(truth)), device=truth.device))
        self._add("se", ((pred - truth).pow(2) * w).sum(dim=(-2, -1)).sum(dim=0))  # [F, L]
        self._add("se_mean", ((self.mean_cube - truth).pow(2) * w).sum(dim=(-2, -1)).sum(dim=0))
        if "temperature" in self.fields and batch["surface_temperature"].dim() == 3:
            i = self.fields.index("temperature")
            copied = batch["surface_temperature"][:, None]  # the surface value copied to every level
            self._add("se_copy", ((copied - truth[:, i]).pow(2) * w).sum(dim=(-2, -1)).sum(dim=0))
        for name, cube in (("pred", pred), ("truth", truth)):
            if "specific_humidity" in self.fields:
                self._add(f"q_negative_{name}", (cube[:, self.fields.index("specific_humidity")] < 0).double().mean() * len(truth))
            if "cloud_fraction" in self.fields:
                c = cube[:, self.fields.index("cloud_fraction")]
                self._add(f"cloud_outside_{name}", ((c < 0) | (c > 1)).double().mean() * len(truth))
            if "temperature" in self.fields:
                t = cube[:, self.fields.index("temperature")]
                p, eps, kappa = per_planet_air(batch)
                theta = physics.potential_temperature(t, p, kappa)
                drop = theta[:, :-1] - theta[:, 1:]
                self._add(f"unstable_share_{name}", (drop > self.cfg.stability_tolerance_k).double().mean() * len(truth))
                if "specific_humidity" in self.fields:
                    rh = cube[:, self.fields.index("specific_humidity")] / physics.saturation_specific_humidity(t, p, eps)
                    self._add(f"supersaturated_share_{name}", (rh > 1 + self.cfg.rh_tolerance).double().mean() * len(truth))

    def _compute_metrics(self) -> dict[str, float]:
        sums = self._sums
        self._sums = {}
        if self.trainer.world_size > 1:
            sums = {k: self.all_gather(v).sum(dim=0) for k, v in sums.items()}
        n = sums.pop("n")
        out: dict[str, float] = {}
        rmse, rmse_mean = (sums.pop("se") / n).sqrt(), (sums.pop("se_mean") / n).sqrt()
        rmse_copy = (sums.pop("se_copy") / n).sqrt() if "se_copy" in sums else None
        for f, field in enumerate(self.fields):
            out[f"{field}_rmse"] = float(rmse[f].pow(2).mean().sqrt())
            out[f"{field}_rmse_train_mean"] = float(rmse_mean[f].pow(2).mean().sqrt())
            for k in range(rmse.shape[1]):
                out[f"{field}_rmse_level{k}"] = float(rmse[f, k])
        if rmse_copy is not None:
            out["temperature_rmse_copy_surface"] = float(rmse_copy.pow(2).mean().sqrt())
        out.update({name: float(value / n) for name, value in sums.items()})
        return out

    # -- optimisation -------------------------------------------------------------------------
    def configure_optimizers(self):
        c = self.cfg
        optimizer = torch.optim.AdamW(self.parameters(), lr=c.lr, weight_decay=c.weight_decay, foreach=True)
        return with_warmup_cosine(optimizer, self.trainer, c)


def per_planet_air(batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(level pressures `[B, L, 1, 1]` — or `[B, L, H, W]` on σ levels: σ × each column's surface pressure —
    and ε, κ `[B, 1, 1, 1]`) of each sample's own atmosphere."""
    p = batch["pressure"][:, :, None, None]
    if "surface_pressure" in batch:  # ingested onto σ levels: `pressure` holds σ
        p = p * batch["surface_pressure"][:, None]
    return p, batch["epsilon"][:, None, None, None], batch["kappa"][:, None, None, None]


def fold_time(batch: dict) -> dict:
    """Fold a time axis into the batch: maps `[B, C, T, H, W]` → `[B·T, C, H, W]`, targets
    `[B, F, T, L, H, W]` → `[B·T, F, L, H, W]`, per-planet tensors repeated T times. The model is
    applied per time step (as `DatacubeUNet` does with a 5D input). Batches without time pass as they are."""
    maps = batch["maps"]
    if maps.dim() != 5:
        return batch
    b, t = maps.shape[0], maps.shape[2]

    def fold(x: torch.Tensor, axis: int) -> torch.Tensor:
        return x.movedim(axis, 1).reshape(b * t, *x.movedim(axis, 1).shape[2:])

    timed = ("maps", "target", "surface_temperature", "surface_pressure")
    out = {key: value.repeat_interleave(t, dim=0) for key, value in batch.items() if key not in timed}  # params, pressure, ε, κ
    out["maps"] = fold(maps, 2)
    if "target" in batch:
        out["target"] = fold(batch["target"], 2)
    for key in ("surface_temperature", "surface_pressure"):  # maps [B, (T,) H, W]
        if key in batch:
            st = batch[key]
            out[key] = fold(st, 1) if st.dim() == 4 else st.repeat_interleave(t, dim=0)
    return out


def _inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    """x with softplus(x) = y (y > 0; small y floored so that the result stays finite)."""
    y = y.clamp_min(1e-6)
    return y + torch.log(-torch.expm1(-y))


def build_module(cfg, datamodule) -> DatacubeModule:
    datamodule.setup("fit")
    return DatacubeModule(cfg.components.datacube, datamodule.stats, datamodule.levels, cfg.physics.constraints)
