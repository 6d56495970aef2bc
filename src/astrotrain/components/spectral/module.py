"""LightningModule of the spectral retrieval: noisy observation → abundances ± σ, P(biosphere).

Loss = Σ_gas (μ̂ − y)² (standardised log10 abundances) + w_nll · Gaussian NLL with the mean
detached (the uncertainty head learns the residuals without pulling the mean; Seitzer et al.
2022) + w_bio · binary cross-entropy of the biosphere flag. After training, one scale per gas
multiplies σ so that 68.27 % of the validation planets lie within 1σ (Kuleshov et al. 2018);
the test split then reports 68 % and 95 % coverage as measured, not as fitted.

Metrics: R² and RMSE (dex) per gas, interval coverage, biosphere ROC-AUC, and the false-
positive rate — P(life) > 0.5 — on the abiotic planets with O2 (water loss, CO2 photolysis),
next to that on all abiotic planets.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric, R2Score
from torchmetrics.classification import BinaryAUROC

from ...universe.biosphere import SCENARIOS
from ..common.heldout import HeldOutMetrics, adamw
from ..common.schedule import with_warmup_cosine
from .data import CONTEXT, FALSE_POSITIVE_SCENARIOS, TARGET_GASES
from .model import SpectralCNN, altitude_spectrum

_FP_CODES = [SCENARIOS.index(s) for s in FALSE_POSITIVE_SCENARIOS]
_ABIOTIC_CODES = [i for i, s in enumerate(SCENARIOS) if s.startswith("abiotic")]


class SpectralModule(HeldOutMetrics, L.LightningModule):
    def __init__(self, cfg, stats: dict[str, np.ndarray], n_bins: int, seed: int):
        super().__init__()
        self.cfg, self.seed = cfg, seed
        self.model = SpectralCNN(n_bins, len(CONTEXT), len(TARGET_GASES), cfg.width, cfg.stages, cfg.hidden, cfg.dropout)
        for name, value in stats.items():
            self.register_buffer(name, torch.as_tensor(np.asarray(value), dtype=torch.float32))
        self.register_buffer("sigma_scale", torch.ones(len(TARGET_GASES)))
        self.r2 = R2Score(multioutput="raw_values")
        self.auroc = BinaryAUROC()
        self.means = torch.nn.ModuleDict({name: MeanMetric() for name in ("sq_err", "cover68", "cover95", "fp_o2", "fp_abiotic", "bio_accuracy")})
        self.squared = torch.nn.ModuleDict({gas: MeanMetric() for gas in TARGET_GASES})

    # -- observation and forward --------------------------------------------------------------
    def observe(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Noisy depths: fresh noise per training step (seeded by (seed, rank, step): resumable, and
        different on each DDP rank), fixed otherwise."""
        if not self.training:
            return batch["depth"] + batch["noise"]
        seed = int(np.random.SeedSequence([self.seed, int(self.global_rank), int(self.global_step)]).generate_state(1)[0])
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn(batch["depth"].shape, generator=generator).to(batch["depth"].device)
        return batch["depth"] + noise * batch["sigma"]

    def forward(self, depth, sigma, context, r_star) -> dict[str, torch.Tensor]:
        return self.model(*network_inputs(depth, sigma, context, r_star, self.context_mean, self.context_std))

    def retrieve(self, depth, sigma, context, r_star) -> dict[str, torch.Tensor]:
        """Physical outputs: log10 abundances, calibrated 1σ in dex, P(biosphere)."""
        return physical_outputs(self(depth, sigma, context, r_star), self.target_mean, self.target_std, self.sigma_scale)

    def losses(self, out, batch) -> dict[str, torch.Tensor]:
        y = (batch["targets"] - self.target_mean) / self.target_std
        mse = (out["mean"] - y).pow(2).mean(dim=0).sum()
        nll = 0.5 * (out["logvar"] + (y - out["mean"].detach()).pow(2) * torch.exp(-out["logvar"])).mean(dim=0).sum()
        bio = F.binary_cross_entropy_with_logits(out["biosphere_logit"], batch["biosphere"])
        total = mse + self.cfg.nll_weight * nll + self.cfg.biosphere_weight * bio
        return {"loss": total, "mse": mse, "nll": nll, "biosphere_bce": bio}

    # -- steps ----------------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        out = self(self.observe(batch), batch["sigma"], batch["context"], batch["r_star"])
        parts = self.losses(out, batch)
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log_dict({f"train/{k}": v for k, v in parts.items()}, on_step=True, on_epoch=False, batch_size=len(batch["depth"]))
        return parts["loss"]

    def on_fit_end(self) -> None:
        self.calibrate_uncertainty(self.trainer.datamodule.val_dataloader())

    @torch.no_grad()
    def calibrate_uncertainty(self, loader) -> None:
        """Per gas, scale σ so that 68.27 % of the validation planets fall within 1σ."""
        was_training = self.training
        self.eval()
        self.sigma_scale.fill_(1.0)
        z = []
        for batch in loader:
            batch = {k: v.to(self.device) for k, v in batch.items()}
            r = self.retrieve(self.observe(batch), batch["sigma"], batch["context"], batch["r_star"])
            z.append(((r["log10_abundance"] - batch["targets"]).abs() / r["sigma_dex"]).cpu())
        self.sigma_scale.copy_(torch.quantile(torch.cat(z), 0.6827, dim=0).to(self.sigma_scale))
        self.train(was_training)

    # -- metrics --------------------------------------------------------------------------------
    def _evaluate(self, batch) -> None:
        r = self.retrieve(self.observe(batch), batch["sigma"], batch["context"], batch["r_star"])
        err = r["log10_abundance"] - batch["targets"]
        self.r2.update(r["log10_abundance"], batch["targets"])
        for i, gas in enumerate(TARGET_GASES):
            self.squared[gas].update(err[:, i].pow(2))
        z = err.abs() / r["sigma_dex"]
        self.means["cover68"].update((z <= 1.0).float().mean(dim=1))
        self.means["cover95"].update((z <= 1.96).float().mean(dim=1))
        p, truth = r["p_biosphere"], batch["biosphere"]
        self.auroc.update(p, truth.long())
        self.means["bio_accuracy"].update(((p > 0.5).float() == truth).float())
        fp = torch.isin(batch["scenario"], torch.tensor(_FP_CODES, device=p.device))
        abiotic = torch.isin(batch["scenario"], torch.tensor(_ABIOTIC_CODES, device=p.device))
        if fp.any():
            self.means["fp_o2"].update((p[fp] > 0.5).float())
        if abiotic.any():
            self.means["fp_abiotic"].update((p[abiotic] > 0.5).float())

    def _compute_metrics(self) -> dict[str, torch.Tensor]:
        r2 = self.r2.compute()
        out = {f"r2_{gas}": r2[i] for i, gas in enumerate(TARGET_GASES)}
        out.update({f"rmse_dex_{gas}": self.squared[gas].compute().sqrt() for gas in TARGET_GASES})
        out["coverage_68"] = self.means["cover68"].compute()
        out["coverage_95"] = self.means["cover95"].compute()
        out["biosphere_roc_auc"] = self.auroc.compute()
        out["biosphere_accuracy"] = self.means["bio_accuracy"].compute()
        out["false_positive_rate_abiotic_o2"] = self.means["fp_o2"].compute()
        out["false_positive_rate_abiotic"] = self.means["fp_abiotic"].compute()
        for metric in [self.r2, self.auroc, *self.means.values(), *self.squared.values()]:
            metric.reset()
        return out

    def configure_optimizers(self):
        return with_warmup_cosine(adamw(self.model, self.cfg), self.trainer, self.cfg)


def build_module(cfg, datamodule) -> SpectralModule:
    datamodule.setup("fit")
    return SpectralModule(cfg.components.spectral, datamodule.stats, len(datamodule.instrument.wavelength), cfg.run.seed)


def physical_outputs(out: dict[str, torch.Tensor], target_mean, target_std, sigma_scale) -> dict[str, torch.Tensor]:
    """The CNN's standardised outputs as log10 abundances, calibrated 1σ in dex and P(biosphere)."""
    return {
        "log10_abundance": out["mean"] * target_std + target_mean,
        "sigma_dex": (0.5 * out["logvar"]).exp() * target_std * sigma_scale,
        "p_biosphere": torch.sigmoid(out["biosphere_logit"]),
    }


def network_inputs(depth, sigma, context, r_star, context_mean, context_std) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(altitude spectrum, standardised context, white-light radius): what SpectralCNN reads."""
    spectrum, radius = altitude_spectrum(depth, sigma, r_star, context[:, CONTEXT.index("gravity")])
    return spectrum, (context - context_mean) / context_std, radius
