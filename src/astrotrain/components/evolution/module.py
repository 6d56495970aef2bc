"""LightningModule of the evolution emulator: losses, metrics, optimiser.

Loss: mean squared error of the five per-step features (FEATURES), each in units of its
training standard deviation, over the forecast steps. With `physics.constraints` the carbon
reservoirs come out of a softmax (conservation exact) and T out of the energy balance
(physics.py); without, every feature is a free output and the conservation residual is only
measured. Metrics: RMSE of log10 pCO2 (dex), T (K), log10 pO2 (dex) and the reservoir
shares, the mean conservation residual, and the persistence baseline (the last observed
value carried forward) for pCO2 and T.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torchmetrics import MeanMetric

from ..common.heldout import HeldOutMetrics, adamw
from ..common.schedule import with_warmup_cosine
from . import physics
from .data import FEATURES
from .model import EvolutionTransformer

_REPORTED = {"log10_pCO2": "rmse_log10_pco2_dex", "temperature": "rmse_temperature_K", "log10_pO2": "rmse_log10_po2_dex",
             "f_carbonate": "rmse_carbonate_share", "f_mantle": "rmse_mantle_share"}


class EvolutionModule(HeldOutMetrics, L.LightningModule):
    def __init__(self, cfg, stats: dict[str, np.ndarray], start_steps: int, physics_constraints: bool):
        super().__init__()
        self.cfg, self.start_steps, self.physics_constraints = cfg, start_steps, physics_constraints
        n_times = len(stats["time_gyr"])
        self.model = EvolutionTransformer(
            n_drivers=len(stats["driver_mean"]), n_features=len(FEATURES), n_outputs=4 if physics_constraints else len(FEATURES),
            start_steps=start_steps, future_steps=n_times - start_steps, patch_steps=cfg.patch_steps,
            d_model=cfg.d_model, n_heads=cfg.n_heads, n_layers=cfg.n_layers, dropout=cfg.dropout,
        )
        for name in ("feature_mean", "feature_std", "driver_mean", "driver_std"):
            self.register_buffer(name, torch.as_tensor(np.asarray(stats[name]), dtype=torch.float32))
        self.register_buffer("future_time_gyr", torch.as_tensor(np.asarray(stats["time_gyr"])[start_steps:], dtype=torch.float32))
        names = list(_REPORTED) + ["conservation", "persistence_log10_pCO2", "persistence_temperature"]
        self.metrics = torch.nn.ModuleDict({name: MeanMetric() for name in names})

    def forecast(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Physical forecast `[B, future]` per feature, plus the atmosphere-ocean carbon share."""
        k = self.start_steps
        start = (batch["trajectory"][:, :k] - self.feature_mean) / self.feature_std
        drivers = (batch["drivers"] - self.driver_mean) / self.driver_std
        raw = self.model(drivers, start)
        if self.physics_constraints:
            out = physics.conserved_reservoirs(raw[..., :3], batch["log10_c_total"])
            out["temperature"] = physics.energy_balance_temperature(batch["f_star"], self.future_time_gyr, out["log10_pCO2"])
            i = FEATURES.index("log10_pO2")
            out["log10_pO2"] = raw[..., 3] * self.feature_std[i] + self.feature_mean[i]
            return out
        physical = raw * self.feature_std + self.feature_mean
        out = {name: physical[..., i] for i, name in enumerate(FEATURES)}
        out["f_atmosphere"] = physics.atmosphere_share(out["log10_pCO2"], batch["log10_c_total"])
        return out

    def _standardised_error(self, out, batch) -> torch.Tensor:
        pred = torch.stack([out[name] for name in FEATURES], dim=-1)
        return (pred - batch["trajectory"][:, self.start_steps :]) / self.feature_std

    def training_step(self, batch, batch_idx):
        loss = self._standardised_error(self.forecast(batch), batch).pow(2).mean()
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log("train/loss", loss, on_step=True, on_epoch=False, batch_size=len(batch["drivers"]))
        return loss

    def _evaluate(self, batch) -> None:
        out = self.forecast(batch)
        truth = batch["trajectory"][:, self.start_steps :]
        for i, name in enumerate(FEATURES):
            self.metrics[name].update((out[name] - truth[..., i]).pow(2).mean(dim=1))
        residual = physics.conservation_residual(out["f_atmosphere"], out["f_carbonate"], out["f_mantle"])
        self.metrics["conservation"].update(residual.mean(dim=1))
        last = batch["trajectory"][:, self.start_steps - 1 : self.start_steps]
        for name in ("log10_pCO2", "temperature"):
            i = FEATURES.index(name)
            self.metrics[f"persistence_{name}"].update((last[..., i] - truth[..., i]).pow(2).mean(dim=1))

    def _compute_metrics(self) -> dict[str, torch.Tensor]:
        raw = {name: metric.compute() for name, metric in self.metrics.items()}
        for metric in self.metrics.values():
            metric.reset()
        out = {label: raw[name].sqrt() for name, label in _REPORTED.items()}
        out["conservation_residual"] = raw["conservation"]
        out["persistence_rmse_log10_pco2_dex"] = raw["persistence_log10_pCO2"].sqrt()
        out["persistence_rmse_temperature_K"] = raw["persistence_temperature"].sqrt()
        return out

    def configure_optimizers(self):
        return with_warmup_cosine(adamw(self.model, self.cfg, exempt_names=("queries",)), self.trainer, self.cfg)


def build_module(cfg, datamodule) -> EvolutionModule:
    datamodule.setup("fit")
    return EvolutionModule(cfg.components.evolution, datamodule.stats, datamodule.start_steps, cfg.physics.constraints)
