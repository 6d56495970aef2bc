"""Plots shared by the components' reports (matplotlib, Agg backend, PNG).

Every function writes one PNG and returns its path; figures are closed after saving, so a
long pipeline does not accumulate them. Components draw their own science plots in their
`report.py` with these helpers and `figure`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

PLOTS_DIR = "plots"  # <run or phase dir>/plots/*.png
DPI = 110


@contextlib.contextmanager
def figure(path: Path, *args, **kwargs):
    """A matplotlib (figure, axes) saved to `path` (parents created) and closed on exit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(*args, **kwargs)
    try:
        yield fig, axes
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)


def training_curves(metrics_csv: Path, path: Path, title: str, science_metrics: tuple[str, ...] = ()) -> Path | None:
    """A run's CSV log against the optimiser step: every train/* series (left) and the validation
    curves of its science metrics (right, one scale each). None when there is nothing to draw."""
    import pandas as pd

    if not metrics_csv.is_file():
        return None
    log = pd.read_csv(metrics_csv)
    if "step" not in log.columns:
        return None
    drawn = lambda columns: [c for c in columns if c in log.columns and log[c].notna().sum() >= 2]  # noqa: E731
    train = drawn([c for c in log.columns if c.startswith("train/")])
    val = drawn([f"val/{m}" for m in science_metrics])[:4]
    if not train and not val:
        return None
    with figure(path, 1, 1 + len(val), figsize=(4.2 * (1 + len(val)) + 1, 3.4), squeeze=False) as (fig, axes):
        for column in train:
            rows = log[["step", column]].dropna()
            axes[0, 0].plot(rows["step"], rows[column], label=column.removeprefix("train/"), lw=1)
        positive = all((log[c].dropna() > 0).all() for c in train)
        axes[0, 0].set(xlabel="step", title=f"{title}: training", yscale="log" if train and positive else "linear")
        if train:
            axes[0, 0].legend(fontsize=7)
        for ax, column in zip(axes[0, 1:], val):
            rows = log[["step", column]].dropna()
            ax.plot(rows["step"], rows[column], marker="o", ms=3, lw=1)
            ax.set(xlabel="step", title=column, ylabel=column.removeprefix("val/"))
            ax.title.set_fontsize(9)
    return path


def confusion_matrix(confusion: np.ndarray, labels: list[str], path: Path, title: str) -> Path:
    """Counts with row-normalised colour (recall per true class)."""
    share = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    with figure(path, figsize=(6.2, 5.2)) as (fig, ax):
        image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=8, color="white" if share[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set(xlabel="predicted", ylabel="true", title=title)
        fig.colorbar(image, ax=ax, label="share of the true class")
    return path


def reliability_diagram(confidence: np.ndarray, correct: np.ndarray, path: Path, title: str, n_bins: int = 15) -> Path:
    """Accuracy against confidence per bin (the diagonal is perfect calibration), with bin counts."""
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins)
    accuracy = np.bincount(which, weights=correct.astype(float), minlength=n_bins) / np.maximum(counts, 1)
    mean_conf = np.bincount(which, weights=confidence, minlength=n_bins) / np.maximum(counts, 1)
    used = counts > 0
    with figure(path, figsize=(5, 4.6)) as (fig, ax):
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
        ax.plot(mean_conf[used], accuracy[used], marker="o", label="fusion")
        for x, y, n in zip(mean_conf[used], accuracy[used], counts[used]):
            ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(3, -10), fontsize=7)
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence (max softmax)", ylabel="accuracy", title=title)
        ax.legend(fontsize=8)
    return path


def bar_chart(labels: list[str], values: list[float], path: Path, title: str, xlabel: str, highlight: str | None = None) -> Path:
    """Horizontal bars, one per label (the `highlight` label in another colour)."""
    with figure(path, figsize=(6.5, 0.35 * len(labels) + 1.2)) as (fig, ax):
        colours = ["tab:orange" if label == highlight else "tab:blue" for label in labels]
        ax.barh(range(len(labels)), values, color=colours)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.invert_yaxis()
        lo = min(values)
        ax.set_xlim(max(0.0, lo - 0.1 * (max(values) - lo + 1e-9) - 0.05), max(values) + 0.02)
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:.3f}", va="center", fontsize=7)
        ax.set(xlabel=xlabel, title=title)
    return path


def map_rows(rows: list[tuple[str, np.ndarray, np.ndarray]], path: Path, quantity: str, unit: str) -> Path:
    """Per planet (label, truth, prediction) lat × lon maps: truth | prediction | prediction − truth.
    Truth and prediction share one colour scale per planet; the error has its own, centred on 0."""
    n_lat, n_lon = rows[0][1].shape
    extent = (-180, 180, -90, 90)
    with figure(path, len(rows), 3, figsize=(12, 2.7 * len(rows)), squeeze=False) as (fig, axes):
        for (label, truth, pred), ax in zip(rows, axes):
            lo, hi = float(min(truth.min(), pred.min())), float(max(truth.max(), pred.max()))
            err = pred - truth
            bound = float(np.abs(err).max()) or 1.0
            for a, data, title, kwargs in ((ax[0], truth, f"{label}: truth", {"vmin": lo, "vmax": hi, "cmap": "inferno"}),
                                           (ax[1], pred, "prediction", {"vmin": lo, "vmax": hi, "cmap": "inferno"}),
                                           (ax[2], err, f"error (RMSE {np.sqrt((err ** 2).mean()):.2f} {unit})", {"vmin": -bound, "vmax": bound, "cmap": "RdBu_r"})):
                image = a.imshow(data, origin="lower", extent=extent, aspect="auto", **kwargs)
                a.set_title(title, fontsize=9)
                a.set_xlabel("longitude [°] (substellar point at 0)", fontsize=7)
                a.tick_params(labelsize=7)
                fig.colorbar(image, ax=a, label=f"{quantity} [{unit}]" if a is not ax[2] else f"Δ [{unit}]")
            ax[0].set_ylabel("latitude [°]", fontsize=7)
    return path
