"""LightningModule of the surrogate: losses, science metrics, optimiser and schedule.

Loss = w_field · Σ_fields ‖ĉ − c‖² (PCA coefficients in units of each field's anomaly RMS norm,
i.e. the relative squared map error: ~6e-4 at 1 K on Ts, hence the large default w_field) + w_state · CE(state) + w_hab · SmoothL1(habitable fraction)
+ w_nll · Gaussian NLL of the coefficients with the mean detached (so the uncertainty head
is calibrated without pulling the mean away from the MSE optimum; cf. Seitzer et al. 2022,
"On the pitfalls of heteroscedastic uncertainty estimation")
[+ w_eb · energy-balance penalty with `physics.constraints`].

The reported habitable fraction is computed from the predicted surface-temperature map with
the labels' own definition (area share of 273.15-373.15 K cells): a functional of the map, not
a free guess. The direct head's error is reported next to it (`habitable_fraction_mae_head`).
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric

from ...universe.labels import area_weights
from ...universe.thermo import MELTING_POINT_K
from ..common.heldout import HeldOutMetrics, adamw
from ..common.schedule import with_warmup_cosine
from . import physics
from .model import FIELDS, SurrogateTransformer

_FIELD_UNITS = {"surface_temperature": "K", "asr": "Wm2", "olr": "Wm2"}


class SurrogateModule(HeldOutMetrics, L.LightningModule):
    def __init__(self, cfg, basis: dict[str, np.ndarray], physics_constraints: bool, grid: dict | None = None):
        super().__init__()
        self.cfg = cfg
        self.physics_constraints = physics_constraints
        self.model = SurrogateTransformer(
            n_pixels=basis["pca_mean"].shape[-1],
            n_components=cfg.n_components,
            d_model=cfg.d_model,
            n_heads=cfg.n_heads,
            n_layers=cfg.n_layers,
            dropout=cfg.dropout,
            n_fourier=cfg.n_fourier,
        )
        self.model.set_basis(**basis)
        grid = grid or {"area_weights": area_weights().reshape(-1), "nightside": physics.nightside_mask()}  # CLERO's grid
        self.register_buffer("area_weights", torch.from_numpy(np.asarray(grid["area_weights"], dtype=np.float32)), persistent=False)
        self.register_buffer("nightside", torch.from_numpy(np.asarray(grid["nightside"], dtype=bool).reshape(-1)), persistent=False)
        self.metrics = torch.nn.ModuleDict({name: MeanMetric() for name in _metric_names()})

    # -- forward and losses -------------------------------------------------------------------
    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model(features)

    def predict_maps(self, out: dict[str, torch.Tensor], features: torch.Tensor) -> torch.Tensor:
        maps = self.model.decode_fields(out["coeff_mean"], features)
        return physics.apply_hard_constraints(maps, self.nightside) if self.physics_constraints else maps

    def losses(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        c = self.cfg
        err = out["coeff_mean"] - batch["coeffs"]
        field = err.pow(2).sum(dim=-1).mean(dim=0)  # [F]
        logvar = out["coeff_logvar"]
        nll = 0.5 * (logvar + (batch["coeffs"] - out["coeff_mean"].detach()).pow(2) * torch.exp(-logvar)).sum(dim=-1).mean()
        state = F.cross_entropy(out["state_logits"], batch["state"])
        habitable = F.smooth_l1_loss(out["habitable_fraction"], batch["habitable"], beta=0.02)
        total = c.field_loss_weight * field.sum() + c.state_loss_weight * state + c.habitable_loss_weight * habitable + c.nll_loss_weight * nll
        parts = {"loss": total, "field": field.sum(), "state": state, "habitable": habitable, "nll": nll}
        if self.physics_constraints and c.energy_balance_weight > 0:
            maps = self.model.decode_fields(out["coeff_mean"], batch["features"])
            imbalance = physics.energy_imbalance(maps[:, 1], maps[:, 2], self.area_weights)
            parts["energy_balance"] = physics.energy_balance_penalty(imbalance, c.energy_balance_tolerance)
            parts["loss"] = total + c.energy_balance_weight * parts["energy_balance"]
        return parts

    # -- steps --------------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        parts = self.losses(self(batch["features"]), batch)
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:  # self.log costs ~1 ms: only when Lightning writes
            self.log_dict({f"train/{k}": v for k, v in parts.items()}, on_step=True, on_epoch=False, batch_size=len(batch["state"]))
        return parts["loss"]

    # -- uncertainty calibration ------------------------------------------------------------
    def on_fit_end(self) -> None:
        self.calibrate_uncertainty(self.trainer.datamodule.val_dataloader())

    @torch.no_grad()
    def calibrate_uncertainty(self, loader) -> None:
        """Scale each field's σ so that 68.27 % of the validation area lies within 1σ.

        The NLL head is fitted on training residuals, smaller than held-out ones, so it is
        over-confident; one scale per field, fitted on the validation split (never on test),
        is the standard post-hoc fix (Kuleshov et al. 2018, "Accurate uncertainties for deep
        learning using calibrated regression").
        """
        was_training = self.training
        self.eval()
        self.model.sigma_scale.fill_(1.0)
        z, weights = [], []
        for batch in loader:
            batch = {k: v.to(self.device) for k, v in batch.items()}
            out = self(batch["features"])
            maps = self.predict_maps(out, batch["features"])
            sigma = self.model.decode_variance(out["coeff_logvar"], batch["features"]).sqrt().clamp_min(1e-6)
            z.append(((maps - batch["maps"]).abs() / sigma).transpose(0, 1).reshape(len(FIELDS), -1))
            weights.append(self.area_weights.repeat(len(batch["state"])))
        z_all, w_all = torch.cat(z, dim=1).cpu(), torch.cat(weights).cpu()  # cumsum: deterministic only on CPU
        for f in range(len(FIELDS)):
            self.model.sigma_scale[f] = weighted_quantile(z_all[f], w_all, 0.6827)
        self.train(was_training)

    # -- science metrics ----------------------------------------------------------------------
    def _evaluate(self, batch) -> None:
        out = self(batch["features"])
        n = len(batch["state"])
        maps = self.predict_maps(out, batch["features"])
        truth = batch["maps"]
        w = self.area_weights
        for i, name in enumerate(FIELDS):
            self.metrics[f"mse_{name}"].update((maps[:, i] - truth[:, i]).pow(2) @ w)
        baseline = self.model.decode_fields(torch.zeros_like(out["coeff_mean"]), batch["features"])
        self.metrics["mse_baseline_surface_temperature"].update((baseline[:, 0] - truth[:, 0]).pow(2) @ w)
        # predictive uncertainty of the surface temperature: share of area within 1σ / 2σ
        sigma = self.model.decode_variance(out["coeff_logvar"], batch["features"])[:, 0].sqrt()
        z = (maps[:, 0] - truth[:, 0]).abs() / sigma.clamp_min(1e-6)
        self.metrics["coverage_1sigma"].update((z <= 1).float() @ w)
        self.metrics["coverage_2sigma"].update((z <= 2).float() @ w)
        self.metrics["state_accuracy"].update((out["state_logits"].argmax(dim=1) == batch["state"]).float())
        self.metrics["habitable_mae_head"].update((out["habitable_fraction"] - batch["habitable"]).abs())
        self.metrics["habitable_mae"].update((habitable_fraction_of(maps[:, 0], w, batch["boiling_point"]) - batch["habitable"]).abs())
        imbalance = physics.energy_imbalance(maps[:, 1], maps[:, 2], w)
        self.metrics["energy_imbalance_abs"].update(imbalance.abs())
        self.metrics["energy_imbalance_abs_truth"].update(physics.energy_imbalance(truth[:, 1], truth[:, 2], w).abs())
        self.metrics["nightside_asr_abs"].update(physics.nightside_asr(maps[:, 1], self.nightside))
        self.metrics["negative_flux_share"].update(((maps[:, 1:] < 0).float().mean(dim=(1, 2))))
        del n

    def _compute_metrics(self) -> dict[str, float]:
        raw = {name: metric.compute() for name, metric in self.metrics.items()}
        for metric in self.metrics.values():
            metric.reset()
        out = {f"{name}_rmse_{_FIELD_UNITS[name]}": raw[f"mse_{name}"].sqrt() for name in FIELDS}
        out["baseline_train_mean_surface_temperature_rmse_K"] = raw["mse_baseline_surface_temperature"].sqrt()
        out["surface_temperature_coverage_1sigma"] = raw["coverage_1sigma"]
        out["surface_temperature_coverage_2sigma"] = raw["coverage_2sigma"]
        out["climate_state_accuracy"] = raw["state_accuracy"]
        out["habitable_fraction_mae"] = raw["habitable_mae"]
        out["habitable_fraction_mae_head"] = raw["habitable_mae_head"]
        out["energy_imbalance_abs_Wm2"] = raw["energy_imbalance_abs"]
        out["energy_imbalance_abs_truth_Wm2"] = raw["energy_imbalance_abs_truth"]
        out["nightside_asr_abs_Wm2"] = raw["nightside_asr_abs"]
        out["negative_flux_share"] = raw["negative_flux_share"]
        return out

    # -- optimisation -------------------------------------------------------------------------
    def configure_optimizers(self):
        return with_warmup_cosine(adamw(self.model, self.cfg, exempt_names=("identity", "queries")), self.trainer, self.cfg)


def weighted_quantile(values: torch.Tensor, weights: torch.Tensor, q: float) -> torch.Tensor:
    """The q-quantile of `values` under `weights` (no interpolation)."""
    order = torch.argsort(values)
    cumulative = torch.cumsum(weights[order], dim=0)
    index = torch.searchsorted(cumulative, q * cumulative[-1])
    return values[order][index.clamp(max=len(values) - 1)]


def habitable_fraction_of(surface_temperature: torch.Tensor, area_weights: torch.Tensor, boiling_point: torch.Tensor) -> torch.Tensor:
    """Habitable surface fraction of predicted maps `[B, P]` with the labels' definition (labels.py):
    273.15 K <= Ts <= the planet's boiling point `[B]`."""
    liquid = (surface_temperature >= MELTING_POINT_K) & (surface_temperature <= boiling_point[:, None])
    return liquid.to(area_weights.dtype) @ area_weights


def _metric_names() -> list[str]:
    return [f"mse_{name}" for name in FIELDS] + [
        "mse_baseline_surface_temperature",
        "coverage_1sigma",
        "coverage_2sigma",
        "state_accuracy",
        "habitable_mae",
        "habitable_mae_head",
        "energy_imbalance_abs",
        "energy_imbalance_abs_truth",
        "nightside_asr_abs",
        "negative_flux_share",
    ]


def build_module(cfg, datamodule) -> SurrogateModule:
    datamodule.setup("fit")
    return SurrogateModule(cfg.components.surrogate, datamodule.basis, cfg.physics.constraints, datamodule.grid)
