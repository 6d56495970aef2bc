"""LightningModule of fusion: losses, modality dropout, the freeze schedule, metrics.

Loss = cross-entropy(climate state) + habitable_weight · smooth-L1(habitable fraction)
     + biosphere_weight · BCE(biosphere) + align_weight · InfoNCE alignment (model.alignment_loss).

Modality dropout (Neverova et al. 2016, "ModDrop"): during training each available modality is
hidden from a planet with probability `modality_dropout`, never all of them, so the model learns
to answer from any subset. Encoders lent by the pretrained components are frozen for
`freeze_epochs` (only the projections, the fusion transformer and the new parts of the
encoders learn), then fine-tuned at `lr × encoder_lr_ratio` — the schedule is a function of the
epoch, so a resumed run freezes and unfreezes exactly as an uninterrupted one.

Held-out metrics (all modalities shown): climate-state accuracy and macro-F1, expected
calibration error (15 bins, Guo et al. 2017), biosphere ROC-AUC, habitable-fraction MAE and
`score` = mean(accuracy, biosphere ROC-AUC, 1 − habitable MAE), the figure the ablation ranks by.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import BinaryAUROC, MulticlassCalibrationError, MulticlassConfusionMatrix

from ..common.heldout import HeldOutMetrics
from ..common.schedule import with_warmup_cosine
from .model import N_STATES, FusionTransformer, alignment_loss


class MultimodalModule(HeldOutMetrics, L.LightningModule):
    def __init__(self, cfg, encoders: dict[str, torch.nn.Module]):
        super().__init__()
        self.cfg = cfg
        self.model = FusionTransformer(encoders, cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.dropout)
        self.register_buffer("active", torch.ones(len(encoders), dtype=torch.bool), persistent=False)  # ablation: modalities shown
        self.complete_only = False  # ablation: evaluate only planets that have every fused modality (one planet set for all rows)
        self.confusion = MulticlassConfusionMatrix(N_STATES)
        self.calibration = MulticlassCalibrationError(N_STATES, n_bins=15, norm="l1")
        self.auroc = BinaryAUROC()
        self.habitable_error = MeanMetric()

    # -- the lent encoders: frozen first, then fine-tuned ------------------------------------------
    def pretrained_parameters(self):
        return [p for e in self.model.encoders for p in e.pretrained.parameters()]

    def set_frozen(self, frozen: bool) -> None:
        for p in self.pretrained_parameters():
            p.requires_grad_(not frozen)

    # -- training --------------------------------------------------------------------------------
    def shown_modalities(self, available: torch.Tensor) -> torch.Tensor:
        """Modality dropout: hide each available modality with p = modality_dropout, keeping at least one."""
        keep = available & (torch.rand(available.shape, device=available.device) >= self.cfg.modality_dropout)
        empty = ~keep.any(dim=1)
        if empty.any():  # give such a planet back one of its available modalities, uniformly
            scores = torch.rand(available.shape, device=available.device).masked_fill(~available, -1.0)
            keep[empty] = F.one_hot(scores[empty].argmax(dim=1), available.shape[1]).bool()
        return keep

    def losses(self, batch, out) -> dict[str, torch.Tensor]:
        c = self.cfg
        terms = {
            "state": F.cross_entropy(out["state_logits"], batch["state"]),
            "habitable": F.smooth_l1_loss(out["habitable_fraction"], batch["habitable"], beta=0.05),
            "biosphere": F.binary_cross_entropy_with_logits(out["biosphere_logit"], batch["biosphere"]),
            "align": alignment_loss(out["aligned"], batch["available"], c.align_temperature),
        }
        terms["loss"] = terms["state"] + c.habitable_weight * terms["habitable"] + c.biosphere_weight * terms["biosphere"] + c.align_weight * terms["align"]
        return terms

    def training_step(self, batch, batch_idx):
        # decided per step, from the epoch: a run resumed mid-epoch freezes exactly like an uninterrupted one
        self.set_frozen(self.current_epoch < self.cfg.freeze_epochs)
        out = self.model(batch, self.shown_modalities(batch["available"]), batch["available"])
        terms = self.losses(batch, out)
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log_dict({f"train/{k}": v for k, v in terms.items()}, on_step=True, on_epoch=False, batch_size=len(batch["state"]))
        return terms["loss"]

    # -- held-out --------------------------------------------------------------------------------
    def predict_batch(self, batch) -> dict[str, torch.Tensor]:
        """Predictions from the modalities that are both available and `active`; `shown` marks the
        planets that count (some active modality available; with `complete_only`, all fused ones)."""
        present = batch["available"] & self.active
        shown = batch["available"].all(dim=1) if self.complete_only else present.any(dim=1)
        out = self.model(batch, present | ~present.any(dim=1, keepdim=True))  # a planet with nothing to show: not counted
        out["shown"] = shown
        return out

    def _evaluate(self, batch) -> int:
        out = self.predict_batch(batch)
        rows = out["shown"]
        if not rows.any():
            return 0
        probs = out["state_logits"][rows].softmax(dim=-1)
        self.confusion.update(probs.argmax(dim=-1), batch["state"][rows])
        self.calibration.update(probs, batch["state"][rows])
        self.auroc.update(torch.sigmoid(out["biosphere_logit"][rows]), batch["biosphere"][rows].long())
        self.habitable_error.update((out["habitable_fraction"][rows] - batch["habitable"][rows]).abs())
        return int(rows.sum())

    def _compute_metrics(self) -> dict[str, torch.Tensor]:
        confusion = self.confusion.compute().double()
        truth, predicted, hits = confusion.sum(dim=1), confusion.sum(dim=0), confusion.diagonal()
        seen = (truth + predicted) > 0  # macro-F1 over the classes that occur (in truth or prediction)
        f1 = 2 * hits[seen] / (truth[seen] + predicted[seen])
        out = {
            "accuracy": hits.sum() / truth.sum().clamp(min=1),
            "macro_f1": f1.mean(),
            "ece": self.calibration.compute(),
            "biosphere_roc_auc": self.auroc.compute(),
            "habitable_fraction_mae": self.habitable_error.compute(),
        }
        out["score"] = (out["accuracy"] + out["biosphere_roc_auc"] + 1 - out["habitable_fraction_mae"]) / 3
        for metric in (self.confusion, self.calibration, self.auroc, self.habitable_error):
            metric.reset()
        return {k: v.float() for k, v in out.items()}

    # -- optimisation ----------------------------------------------------------------------------
    def param_groups(self) -> list[dict]:
        """The fusion's own parameters at lr, the lent encoders at lr × encoder_lr_ratio; no decay on vectors and embeddings."""
        c = self.cfg
        lent = {id(p) for p in self.pretrained_parameters()}
        groups = {}
        for name, p in self.model.named_parameters():
            key = ("encoder" if id(p) in lent else "fusion", p.ndim >= 2 and "embedding" not in name and "cls" not in name)
            groups.setdefault(key, []).append(p)
        return [
            {"params": params, "lr": c.lr * (c.encoder_lr_ratio if part == "encoder" else 1.0), "weight_decay": c.weight_decay if decay else 0.0}
            for (part, decay), params in sorted(groups.items())
        ]

    def configure_optimizers(self):
        c = self.cfg
        return with_warmup_cosine(torch.optim.AdamW(self.param_groups(), lr=c.lr, foreach=True), self.trainer, c)


def build_module(cfg, datamodule) -> MultimodalModule:
    encoders = {modality: source.lend() for modality, source in datamodule.pretrained.items()}
    return MultimodalModule(cfg.components.multimodal, encoders)


@torch.inference_mode()
def test_metrics(module, datamodule, shown: list[str], collect: bool = False, complete_only: bool = False):
    """Test metrics (and, with `collect`, the predictions) with only `shown` modalities; `planets`: how many counted."""
    modalities = module.model.modalities
    module.active = torch.tensor([m in shown for m in modalities], device=module.device)
    module.complete_only = complete_only
    module.eval()
    collected = {"probs": [], "state": []}
    planets = 0
    try:
        for batch in datamodule.test_dataloader():
            batch = {k: v.to(module.device) for k, v in batch.items()}
            planets += module._evaluate(batch)
            if collect:
                out = module.predict_batch(batch)
                collected["probs"].append(out["state_logits"][out["shown"]].softmax(dim=-1).cpu())
                collected["state"].append(batch["state"][out["shown"]].cpu())
        metrics = {k: float(v) for k, v in module._compute_metrics().items()} | {"planets": planets}
    finally:
        module.active = torch.ones_like(module.active)
        module.complete_only = False
    return metrics, {k: torch.cat(v).numpy() for k, v in collected.items()} if collect else None
