"""Plots of the production phase: throughput against CLERO, and what `predict` found."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...plots import figure

SOLAR_CONSTANT = 1361.0  # W m-2 (1 S⊕)


def plot_throughput(timings: dict, path: Path) -> Path:
    """Planets/s against batch size for every model/backend and CLERO (log-log)."""
    with figure(path, figsize=(7.5, 4.5)) as (fig, ax):
        for name, t in timings.items():
            sizes = sorted(int(b) for b in t["planets_per_s"])
            ax.plot(sizes, [t["planets_per_s"][str(b)] for b in sizes], marker="o", lw=2.5 if name == "clero" else 1.2,
                    color="black" if name == "clero" else None, label=name)
        ax.set(xscale="log", yscale="log", xlabel="batch size (planets)", ylabel="planets / s", title="surface-temperature maps: throughput on this machine")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, ncol=2)
    return path


def plot_habitability(table, path: Path) -> Path:
    """Predicted habitable fraction (± its uncertainty) against instellation (S⊕) and stellar temperature, by status
    (limit-labelled planets at their 0 with the limit's label)."""
    rows = table[table["habitable_fraction"].notna()]
    labels = {"ok": "inside core domain", "extrapolated": "extrapolated (measured band)", "limit": "beyond a climate limit"}
    with figure(path, 1, 2, figsize=(11, 4.2), sharey=True) as (fig, axes):
        for status, colour in (("limit", "#999999"), ("extrapolated", "#e69f00"), ("ok", "#0072b2")):
            part = rows[rows["status"] == status]
            label = labels[status]
            axes[0].errorbar(part["F_star"] / SOLAR_CONSTANT, part["habitable_fraction"], yerr=part["habitable_fraction_sd"].fillna(0.0), fmt="o", ms=3,
                             color=colour, ecolor=colour, alpha=0.6, elinewidth=0.6, label=f"{label} ({len(part)})")
            axes[1].scatter(part["T_star"], part["habitable_fraction"], s=9, color=colour, alpha=0.6)
        axes[0].set(xscale="log", xlabel="instellation (S⊕)", ylabel="predicted habitable surface fraction")
        axes[1].set(xlabel="stellar effective temperature (K)")
        axes[0].legend(fontsize=7)
        for ax in axes:
            ax.grid(alpha=0.3)
    return path


def plot_top_maps(maps: np.ndarray, top, grid_shape: list[int], path: Path) -> Path:
    """Predicted surface-temperature maps (the representative draw's) of the top-ranked planets."""
    n = len(top)
    cols = min(3, n)
    rows = -(-n // cols)
    with figure(path, rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False) as (fig, axes):
        for ax, (name, fraction), field in zip(axes.flat, zip(top["pl_name"], top["habitable_fraction"]), maps):
            image = ax.imshow(field.reshape(grid_shape), origin="lower", extent=(-180, 180, -90, 90), cmap="RdYlBu_r", vmin=180, vmax=380)
            ax.contour(np.linspace(-180, 180, grid_shape[1]), np.linspace(-90, 90, grid_shape[0]), field.reshape(grid_shape),
                       levels=[273.15], colors="k", linewidths=0.8)
            ax.set_title(f"{name}: habitable {fraction:.2f}", fontsize=9)
            ax.set_xticks([-180, -90, 0, 90, 180])
            fig.colorbar(image, ax=ax, label="K", shrink=0.8)
        for ax in list(axes.flat)[n:]:
            ax.axis("off")
    return path
