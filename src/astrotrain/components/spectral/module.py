"""Lightning module of the spectral retrieval: training, σ calibration, metrics.

Loss: the posterior head's own (posterior.py: squared error + mean-detached NLL for `gaussian`, the
flow's NLL of the true parameters for `flow`) on the standardised targets + w_bio · the binary
cross-entropy of the biosphere flag given the *true* gases (the likelihood P(biosphere | gases),
applied to posterior samples at inference: model.py). Where the data carry reference posteriors
(the challenge's traces) each step's target is a fresh draw from them.

After training, the Gaussian head's σ is scaled per target so that 68.27 % of the validation
planets lie within 1σ; the flow is not rescaled (its calibration is what the coverage tests measure).

Metrics on held-out planets, from posterior samples: R² and RMSE per target of the posterior mean;
central-interval coverage at 68/95 % (mean over targets); the expected coverage of joint
highest-posterior-density regions and TARP at COVERAGE_LEVELS; and where there is a biosphere, its
ROC-AUC and the false-positive rate — P(life) > 0.5 — on abiotic planets with O2 and on all abiotic ones.
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
from .data import FALSE_POSITIVE_SCENARIOS
from .model import SpectralRetrieval, full_precision
from .posterior import COVERAGE_LEVELS, GaussianPosterior, hpd_credibility, seeded, tarp_fraction

_FP_CODES = [SCENARIOS.index(s) for s in FALSE_POSITIVE_SCENARIOS]
_ABIOTIC_CODES = [i for i, s in enumerate(SCENARIOS) if s.startswith("abiotic")]
INPUTS = ("sigma", "context", "r_star", "gravity")  # what the network reads besides the noisy depth


def level_key(level: float) -> str:
    return f"{round(100 * level):02d}"


class SpectralModule(HeldOutMetrics, L.LightningModule):
    def __init__(self, cfg, stats: dict[str, np.ndarray], n_bins: int, seed: int, target_names: tuple[str, ...], n_gases: int, biosphere: bool):
        super().__init__()
        self.cfg, self.seed, self.target_names = cfg, seed, tuple(target_names)
        self.net = SpectralRetrieval(cfg, n_bins, stats, n_gases, biosphere)
        self.r2 = R2Score(multioutput="raw_values")
        self.auroc = BinaryAUROC()
        names = ["cover68", "cover95", "fp_o2", "fp_abiotic", "bio_accuracy"]
        names += [f"hpd{level_key(a)}" for a in COVERAGE_LEVELS] + [f"tarp{level_key(a)}" for a in COVERAGE_LEVELS]
        self.means = torch.nn.ModuleDict({name: MeanMetric() for name in names})
        self.squared = torch.nn.ModuleDict({name: MeanMetric() for name in target_names})

    # -- observation ----------------------------------------------------------------------------
    def step_seed(self, *stream: int) -> int:
        return int(np.random.SeedSequence([self.seed, int(self.global_rank), int(self.global_step), *stream]).generate_state(1)[0])

    def observe(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Noisy depths: fresh noise per training step (seeded by (seed, rank, step): resumable, and
        different on each DDP rank), fixed otherwise."""
        if not self.training:
            return batch["depth"] + batch["noise"]
        generator = torch.Generator().manual_seed(self.step_seed())
        noise = torch.randn(batch["depth"].shape, generator=generator).to(batch["depth"].device)
        return batch["depth"] + noise * batch["sigma"]

    def training_targets(self, batch) -> torch.Tensor:
        """The true parameters, or one draw per planet from its reference posterior where there is one."""
        if "trace" not in batch:
            return batch["targets"]
        generator = torch.Generator().manual_seed(self.step_seed(1))
        pick = torch.randint(batch["trace"].shape[1], (len(batch["trace"]),), generator=generator).to(batch["trace"].device)
        return batch["trace"][torch.arange(len(pick), device=pick.device), pick]

    def retrieve(self, batch, depth=None) -> dict[str, torch.Tensor]:
        """The posterior of a batch (net's read-outs), sampling seeded by the batch's first planet."""
        depth = self.observe(batch) if depth is None else depth
        seed = int(np.random.SeedSequence([self.seed, 0x5A3, int(batch["planet"][0])]).generate_state(1)[0])
        return self.net(depth, *(batch[k] for k in INPUTS), seed=seed)

    def losses(self, batch) -> dict[str, torch.Tensor]:
        theta = self.net.standardise(self.training_targets(batch))
        h = self.net.embed(self.observe(batch), *(batch[k] for k in INPUTS)).float()
        with full_precision(h):
            parts = {"posterior": self.net.posterior.loss(h, theta)}
        if self.net.biosphere is not None:
            parts["biosphere_bce"] = F.binary_cross_entropy_with_logits(self.net.biosphere_logit(theta), batch["biosphere"])
        parts["loss"] = parts["posterior"] + self.cfg.biosphere_weight * parts.get("biosphere_bce", 0.0)
        return parts

    # -- steps ----------------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        parts = self.losses(batch)
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log_dict({f"train/{k}": v for k, v in parts.items()}, on_step=True, on_epoch=False, batch_size=len(batch["depth"]))
        return parts["loss"]

    def on_fit_end(self) -> None:
        if isinstance(self.net.posterior, GaussianPosterior):
            self.calibrate_uncertainty(self.trainer.datamodule.val_dataloader())

    @torch.no_grad()
    def calibrate_uncertainty(self, loader) -> None:
        """Per target, scale the Gaussian head's σ so that 68.27 % of the validation planets fall within 1σ."""
        was_training = self.training
        self.eval()
        head = self.net.posterior
        head.sigma_scale.fill_(1.0)
        z = []
        for batch in loader:
            batch = {k: v.to(self.device) for k, v in batch.items()}
            mean, logvar = head.moments(self.net.embed(self.observe(batch), *(batch[k] for k in INPUTS)))
            z.append(((mean - self.net.standardise(batch["targets"])).abs() * torch.exp(-0.5 * logvar)).cpu())
        head.sigma_scale.copy_(torch.quantile(torch.cat(z), 0.6827, dim=0).to(head.sigma_scale))
        self.train(was_training)

    # -- metrics --------------------------------------------------------------------------------
    def _evaluate(self, batch) -> None:
        r = self.retrieve(batch)
        truth = batch["targets"]
        self.r2.update(r["mean"], truth)
        err = r["mean"] - truth
        for i, name in enumerate(self.target_names):
            self.squared[name].update(err[:, i].pow(2))
        self.update_calibration(r, self.net.standardise(truth), batch)
        if self.net.biosphere is not None:
            self.update_biosphere(r["p_biosphere"], batch)

    def update_calibration(self, r, truth_std, batch) -> None:
        samples = r["samples"]
        levels = torch.tensor([0.025, 0.16, 0.84, 0.975], device=samples.device)
        # in slices of planets: torch.quantile refuses inputs of more than 2^24 elements
        q025, q16, q84, q975 = torch.cat([torch.quantile(part, levels, dim=0) for part in samples.split(256, dim=1)], dim=1)
        inside68 = (truth_std >= q16) & (truth_std <= q84)
        inside95 = (truth_std >= q025) & (truth_std <= q975)
        self.means["cover68"].update(inside68.float().mean(dim=1))
        self.means["cover95"].update(inside95.float().mean(dim=1))
        credibility, fraction = self.credibility(r, truth_std, batch)
        for level in COVERAGE_LEVELS:
            self.means[f"hpd{level_key(level)}"].update((credibility < level).float())
            self.means[f"tarp{level_key(level)}"].update((fraction < level).float())

    def credibility(self, r, truth_std, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """`[B]` HPD credibility of the truth and its TARP statistic (posterior.py), for retrieval `r`."""
        with full_precision(r["h"]):
            credibility = hpd_credibility(self.net.posterior.log_prob(truth_std, r["h"]), self.net.posterior.log_prob(r["samples"], r["h"]))
        # TARP's reference points: uniform over the box the training targets span (±3σ, standardised), seeded per batch
        with seeded(int(batch["planet"][0]) + 0x7A7, truth_std.device):
            reference = (torch.rand(truth_std.shape, device=truth_std.device) * 2 - 1) * 3
        return credibility, tarp_fraction(r["samples"], truth_std, reference)

    def update_biosphere(self, p, batch) -> None:
        truth = batch["biosphere"]
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
        out = {f"r2_{name}": r2[i] for i, name in enumerate(self.target_names)}
        out.update({f"rmse_{name}": self.squared[name].compute().sqrt() for name in self.target_names})
        out["coverage_68"] = self.means["cover68"].compute()
        out["coverage_95"] = self.means["cover95"].compute()
        for level in COVERAGE_LEVELS:
            out[f"hpd_coverage_{level_key(level)}"] = self.means[f"hpd{level_key(level)}"].compute()
            out[f"tarp_coverage_{level_key(level)}"] = self.means[f"tarp{level_key(level)}"].compute()
        if self.net.biosphere is not None:
            out["biosphere_roc_auc"] = self.auroc.compute()
            out["biosphere_accuracy"] = self.means["bio_accuracy"].compute()
            out["false_positive_rate_abiotic_o2"] = self.means["fp_o2"].compute()
            out["false_positive_rate_abiotic"] = self.means["fp_abiotic"].compute()
        for metric in [self.r2, self.auroc, *self.means.values(), *self.squared.values()]:
            metric.reset()
        return out

    def configure_optimizers(self):
        return with_warmup_cosine(adamw(self.net, self.cfg), self.trainer, self.cfg)


def build_module(cfg, datamodule) -> SpectralModule:
    datamodule.setup("fit")
    return SpectralModule(cfg.components.spectral, datamodule.stats, len(datamodule.wavelength), cfg.run.seed,
                          datamodule.target_names, datamodule.n_gases, datamodule.has_biosphere)
