"""Fusion's leakage audit: what its figures are measured against (`data/leakage.py`).

For each of fusion's labels (biosphere, climate state, habitable fraction), on fusion's own
train and test planets:

* the majority-class baseline, and the best single fused input alone (a depth-2 tree on one
  column of one modality's inputs: a catalog parameter, a spectrum bin, a retrieved gas's
  detection, value or σ), overall and per modality;
* a gradient-boosted reference on every fused input, on true and on shuffled training labels;
* **the shuffled-label fusion run**: the same fusion — fresh encoders lent by the same phase-1
  runs, the same config, epochs and seed — trained on the training planets with their labels
  permuted (one permutation of whole label rows), scored on the true test labels. It must score
  at chance (ROC-AUC ≈ 0.5, accuracy ≈ the majority share): anything above says the labels
  reach the model by a route other than the inputs.

`leakage_audit.json` holds it all; `leak` is true where a single observed input alone separates
the biosphere label beyond ROC-AUC `LEAKAGE_AUC` (0.95).
"""

from __future__ import annotations

import numpy as np
import torch

from ...data.leakage import LEAKAGE_AUC, best_single_by_group, controls
from ...data.observation import CATALOG_PARAMETERS
from ...data.tensors import PlanetTensors, SplitDataModule
from ...fsutil import atomic_write_json
from ..spectral.data import TARGET_GASES
from .module import MultimodalModule, test_metrics

AUDIT_FILE = "leakage_audit.json"
LABELS = {"biosphere": "binary", "state": "classes", "habitable": "fraction"}
LABEL_KEYS = ("state", "habitable", "biosphere")


def audit_columns(tensors: dict[str, torch.Tensor], modalities: list[str]) -> tuple[np.ndarray, dict[str, list[str]]]:
    """Every fused input as scalar columns `[N, K]`, and the column names per modality. Maps are
    reduced to their channel means (a single map pixel is not an input an observer reads)."""
    columns, groups = [], {}
    for modality in modalities:
        names = []
        for key in sorted(k for k in tensors if k.startswith(f"{modality}.")):
            value = tensors[key].double().numpy()
            if key == "parameters.features":  # the atmosphere columns are one constant (unknown): not inputs
                value, labels = value[:, : len(CATALOG_PARAMETERS)], list(CATALOG_PARAMETERS)
            elif key == "gases.observed":
                value = value.reshape(len(value), -1)
                labels = [f"{gas} {field}" for gas in TARGET_GASES for field in ("detected", "value", "sigma")]
            else:
                value = value.reshape(len(value), value.shape[1], -1).mean(axis=-1) if value.ndim > 3 else value.reshape(len(value), -1)
                labels = [str(i) for i in range(value.shape[1])]
            columns.append(value)
            names += [f"{key}[{label}]" for label in labels]
        groups[modality] = names
    return np.concatenate(columns, axis=1), groups


def input_controls(datamodule, seed: int) -> dict:
    """Majority baseline, best single input (overall and per modality) and the boosted references, per label."""
    every = datamodule.every_planet.tensors
    x, groups = audit_columns(every, datamodule.modalities)
    names = [n for group in groups.values() for n in group]
    train, test = (np.asarray(datamodule.indices[s]) for s in ("train", "test"))
    out = {}
    for label, kind in LABELS.items():
        y = every[label].numpy()
        y = y.astype(np.int64) if kind != "fraction" else y.astype(np.float64)
        audit = controls(kind, x[train], y[train], x[test], y[test], names, seed)
        audit["best_single_input_per_modality"] = best_single_by_group(audit, groups)
        out[label] = audit
    return out


class ShuffledLabels(SplitDataModule):
    """Fusion's datasets with the training planets' label rows permuted (validation and test untouched)."""

    def __init__(self, datamodule, seed: int):
        super().__init__()
        self.batch_size, self.num_workers, self.seed = datamodule.batch_size, 0, datamodule.seed
        train = dict(datamodule.datasets["train"].tensors)
        order = torch.from_numpy(np.random.default_rng([seed, 0x5A1]).permutation(len(train["state"])))
        train.update({k: train[k][order] for k in LABEL_KEYS})
        self.datasets = {"train": PlanetTensors(**train), "val": datamodule.datasets["val"], "test": datamodule.datasets["test"]}

    def setup(self, stage: str | None = None) -> None:
        pass


def shuffled_label_run(cfg, datamodule, permutation: int = 0) -> dict:
    """Train the same fusion on shuffled training labels (permutation number `permutation`); its test
    metrics with every modality shown."""
    import lightning as L

    L.seed_everything(cfg.run.seed, workers=True, verbose=False)
    encoders = {modality: source.lend() for modality, source in datamodule.pretrained.items()}
    module = MultimodalModule(cfg.components.multimodal, encoders)
    shuffled = ShuffledLabels(datamodule, cfg.run.seed + 1_000 * permutation)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=cfg.components.multimodal.max_epochs or cfg.trainer.max_epochs,
                        gradient_clip_val=cfg.trainer.gradient_clip_val or None, deterministic=True, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, num_sanity_val_steps=0, log_every_n_steps=cfg.trainer.log_every_n_steps)
    trainer.fit(module, datamodule=shuffled)
    metrics, _ = test_metrics(module, shuffled, module.model.modalities)
    return metrics


def write_audit(cfg, module, datamodule, run_dir, fused_metrics: dict) -> dict:
    """The audit, written to `leakage_audit.json`; returns its headline figures for metrics.json."""
    mc = cfg.components.multimodal
    audit = {"modalities": list(datamodule.modalities), "oracle_modalities": bool(mc.oracle_modalities),
             "fusion": {k: fused_metrics[k] for k in ("accuracy", "biosphere_roc_auc", "habitable_fraction_mae") if k in fused_metrics},
             "controls": input_controls(datamodule, cfg.run.seed)}
    if mc.shuffled_label_control:
        audit["shuffled_label_fusion"] = shuffled_label_summary([shuffled_label_run(cfg, datamodule, k) for k in range(mc.shuffled_label_permutations)])
    best_bio = audit["controls"]["biosphere"]["best_single_input"]
    audit["leak"] = bool(np.isfinite(best_bio["roc_auc"]) and best_bio["roc_auc"] > LEAKAGE_AUC)
    audit["leakage_auc_limit"] = LEAKAGE_AUC
    atomic_write_json(run_dir / AUDIT_FILE, audit)
    c = audit["controls"]
    headline = {
        "majority_state_accuracy": c["state"]["majority_baseline"]["accuracy"],
        "best_single_input_biosphere_roc_auc": best_bio["roc_auc"],
        "best_single_input_biosphere": best_bio["input"],
        "best_single_input_state_accuracy": c["state"]["best_single_input"]["accuracy"],
        "shuffled_reference_biosphere_roc_auc": c["biosphere"]["shuffled_label_reference"]["roc_auc"],
        "leak": audit["leak"],
    }
    if "shuffled_label_fusion" in audit:
        headline["shuffled_label_fusion_accuracy"] = audit["shuffled_label_fusion"]["accuracy"]
        headline["shuffled_label_fusion_biosphere_roc_auc"] = audit["shuffled_label_fusion"]["biosphere_roc_auc"]
        headline["shuffled_label_fusion_biosphere_roc_auc_sd"] = audit["shuffled_label_fusion"]["sd"]["biosphere_roc_auc"]
    return headline


def shuffled_label_summary(runs: list[dict]) -> dict:
    """The mean of the permutations' test metrics, their standard deviation across permutations (the
    width of this control for this model and data, wider than one sample's standard error because the
    lent encoders are informative) and each run."""
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    mean = {k: float(np.mean([r[k] for r in runs])) for k in keys}
    sd = {k: float(np.std([r[k] for r in runs], ddof=1)) if len(runs) > 1 else float("nan") for k in keys}
    return {**mean, "sd": sd, "permutations": len(runs), "runs": runs}
