"""After the test: the leakage audit (`audit.py`), the modality ablation, and the plots of fusion's report.

Ablation: the test metrics with every modality, with each removed in turn, and with each
alone, every row on the same planets — those with every fused modality available, so that a
modality missing for some planets (a failed evolution integration) does not change the set
(`ablation.json`: one row per subset with its planet count; the bar chart ranks them by `score`). Plots: the
confusion matrix of climate states and the reliability diagram of the state probabilities,
both with every modality shown.
"""

from __future__ import annotations

import numpy as np

from ...fsutil import atomic_write_json
from ...plots import PLOTS_DIR, bar_chart, confusion_matrix, reliability_diagram
from .audit import write_audit
from .module import test_metrics

ABLATION_FILE = "ablation.json"


def subsets(modalities: list[str]) -> list[tuple[str, list[str]]]:
    """(label, modalities shown): all, each removed in turn, each alone (for M ≥ 2)."""
    rows = [("all", list(modalities))]
    if len(modalities) > 1:
        rows += [(f"without {m}", [x for x in modalities if x != m]) for m in modalities]
        rows += [(f"only {m}", [m]) for m in modalities]
    return rows


def report(cfg, module, datamodule, run_dir) -> dict:
    from clero.climate_analysis import CLIMATE_STATES

    plots = run_dir / PLOTS_DIR
    metrics, predictions = test_metrics(module, datamodule, module.model.modalities, collect=True)
    probs, state = predictions["probs"], predictions["state"]
    n = len(CLIMATE_STATES)
    confusion = np.bincount(state * n + probs.argmax(axis=1), minlength=n * n).reshape(n, n)
    confusion_matrix(confusion, list(CLIMATE_STATES), plots / "confusion_matrix.png", "climate state, test split (all modalities)")
    reliability_diagram(probs.max(axis=1), probs.argmax(axis=1) == state, plots / "calibration.png",
                        f"climate-state calibration (ECE {metrics['ece']:.3f})")

    headline = {f"audit {k}": v for k, v in write_audit(cfg, module, datamodule, run_dir, metrics).items()}
    if not cfg.components.multimodal.ablation:
        return headline
    rows = []
    for label, shown in subsets(module.model.modalities):
        rows.append({"subset": label, "modalities": shown, **test_metrics(module, datamodule, shown, complete_only=True)[0]})
    atomic_write_json(run_dir / ABLATION_FILE, {
        "metric_for_ranking": "score = mean(accuracy, biosphere ROC-AUC, 1 - habitable MAE)",
        "planets": "every row on the same test planets: those with every fused modality available", "rows": rows})
    ranked = sorted(rows, key=lambda r: -r["score"])
    bar_chart([r["subset"] for r in ranked], [r["score"] for r in ranked], plots / "ablation.png",
              "modality ablation (test split)", "score = mean(accuracy, ROC-AUC, 1 − hab. MAE)", highlight="all")
    return {**headline, **{f"ablation {r['subset']}: score": r["score"] for r in rows}}
