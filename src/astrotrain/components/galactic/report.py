"""Plots of the federation for the run report: held-out score per round against the central
reference, each observatory's validation accuracy per round, communication per round."""

from __future__ import annotations

from pathlib import Path

from ...plots import PLOTS_DIR, figure


def plot_rounds(folder: Path, metrics: dict, rounds: list[dict]) -> list[Path]:
    out = Path(folder) / PLOTS_DIR
    held = metrics["held_out_per_round"]
    r = sorted(int(k) for k in held)
    central = metrics["central"]["score"]
    with figure(out / "federated_vs_central.png", figsize=(6.5, 4)) as (fig, ax):
        ax.plot(r, [held[str(i)]["score"] for i in r], marker="o", ms=3, label="federated (held-out score)")
        ax.axhline(central, color="tab:green", label=f"central, pooled shards ({central:.3f})")
        ax.axhline(0.95 * central, color="tab:green", ls=":", label="95 % of central")
        ax.set(xlabel="round", ylabel="score = mean(accuracy, ROC-AUC, 1 − MAE)", title="Federated vs central training")
        ax.legend(fontsize=8)
    with figure(out / "observatory_validation.png", figsize=(6.5, 4)) as (fig, ax):
        names = sorted({name for row in rounds for name in row["validation"]})
        for name in names:
            points = [(row["round"], row["validation"][name]["accuracy"]) for row in rounds if name in row["validation"]]
            ax.plot(*zip(*points), marker=".", label=name)
        ax.set(xlabel="round", ylabel="climate-state accuracy on its own validation planets", title="Per-observatory validation")
        ax.legend(fontsize=8)
    with figure(out / "communication.png", figsize=(6.5, 3.2)) as (fig, ax):
        ax.bar([row["round"] for row in rounds], [row["communication_mb"] for row in rounds])
        ax.set(xlabel="round", ylabel="MB exchanged", title=f"Communication per round (model {metrics['baselines']['model_mb']:.2f} MB)")
    return sorted(out.glob("*.png"))
