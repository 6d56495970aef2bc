"""Held-out science metrics of the shipped models, from their outputs as numpy arrays (any backend).

Each metric comes with a 95 % bootstrap interval over the test planets (`ci95`; 1,000 resamples,
fixed seed): the model card's uncertainty.
"""

from __future__ import annotations

import numpy as np

from ...universe.labels import area_weights, habitable_fraction

BOOTSTRAP = 1000


def map_metrics(outputs: list[np.ndarray], truth_ts: np.ndarray, states: np.ndarray, surface_pressure_bar: np.ndarray) -> dict:
    """Surface-T map `[B, P]` (+ state logits) vs CLERO's `[B, lat, lon]`: area-weighted RMSE (K),
    the habitable fraction computed from the map (the labels' definition, at each planet's P0) and,
    given logits, state accuracy."""
    ts = outputs[0].reshape(truth_ts.shape).astype(np.float64)
    weights = area_weights(*truth_ts.shape[-2:])
    per_planet = {"surface_temperature_rmse_K": (((ts - truth_ts) ** 2) * weights).sum(axis=(-2, -1)),
                  "habitable_fraction_mae": np.abs(habitable_fraction(ts, surface_pressure_bar) - habitable_fraction(truth_ts, surface_pressure_bar))}
    if len(outputs) > 1:
        per_planet["climate_state_accuracy"] = (outputs[1].argmax(axis=1) == states).astype(np.float64)
    return _with_intervals(per_planet, squared=("surface_temperature_rmse_K",))


def fusion_metrics(outputs: list[np.ndarray], states: np.ndarray, habitable: np.ndarray) -> dict:
    """Fusion from parameters alone: climate-state accuracy, habitable-fraction MAE and RMSE."""
    probs, error = outputs[0], outputs[1].astype(np.float64) - habitable
    return _with_intervals({"accuracy": (probs.argmax(axis=1) == states).astype(np.float64), "habitable_fraction_mae": np.abs(error),
                            "habitable_fraction_rmse": error**2}, squared=("habitable_fraction_rmse",))


def _with_intervals(per_planet: dict[str, np.ndarray], squared: tuple[str, ...]) -> dict:
    """Means over planets (square roots of those in `squared`) and their bootstrap 95 % intervals."""
    rng = np.random.default_rng(0)
    n = len(next(iter(per_planet.values())))
    resamples = rng.integers(0, n, size=(BOOTSTRAP, n))
    out, ci = {}, {}
    for name, values in per_planet.items():
        boot = values[resamples].mean(axis=1)
        point = values.mean()
        if name in squared:
            point, boot = np.sqrt(point), np.sqrt(boot)
        out[name] = float(point)
        ci[name] = [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))]
    return {**out, "ci95": ci}
