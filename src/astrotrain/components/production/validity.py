"""How far `predict` can be trusted, measured the way it predicts: inside CLERO's core domain (where
the models were trained) and in each band between the core and the extended domain.

Planets whose truth is known are predicted exactly as a catalog planet is (`readout.predict_draws`):
their catalog entry with the catalog's noise (`data.observation.catalog_noise`), the atmosphere
unknown and drawn from the prior, the representative draw's map read out. The truth is the planet's
own climate (its habitable fraction at its own P0, its global-mean Ts, its state).

* **core** — the held-out planets of the surrogate's split: validation planets calibrate, test
  planets evaluate;
* **bands** — for each parameter whose core and extended ranges differ (F⋆, radius, gravity, P_rot,
  P0) and each side, `validity_planets` planets with that parameter drawn in the band (log-uniform
  where the universe samples it so) and the others as the universe draws them; CLERO gives their
  truth (it was trained on the whole extended domain). The first half calibrates, the second evaluates.

**σ.** A prediction's 1σ is √(spread over the draws² + floor²); the floor of each region is the
smallest that puts 68.27 % of its calibration planets within 1σ (`calibrate_floor`). Coverage at 1σ
and 1.96σ is then measured on the evaluation planets, never on those it was fitted on.

**Acceptance.** A band is predicted only where its measured error stays within
`max_extrapolated_habitable_mae` and `max_extrapolated_ts_error_K` on the calibration planets and
on the evaluation planets alike (a band of a few dozen planets near a limit passes on one half by
luck); elsewhere `predict` withholds the number and says why.
"""

from __future__ import annotations

import numpy as np

from ...data.observation import catalog_view
from ...universe.labels import area_weights, climate_states, habitable_fraction
from ...universe.sampling import LOG_PARAMETERS, PARAMETER_NAMES, sample_parameters
from .readout import predict_draws

TARGET_COVERAGE = 0.6827
VALIDITY_FILE = "validity.json"


def band_groups() -> list[tuple[str, str]]:
    """(parameter, "low" | "high") for every parameter whose core and extended ranges differ."""
    import clero

    groups = []
    for name in PARAMETER_NAMES:
        (lo, hi), (elo, ehi) = clero.CORE_DOMAIN[name], clero.EXTENDED_DOMAIN[name]
        groups += [(name, side) for side, differs in (("low", elo < lo), ("high", ehi > hi)) if differs]
    return groups


def band_planets(group: tuple[str, str], n: int, seed: int, universe_cfg):
    """`n` planets drawn as the universe draws them, except the group's parameter, drawn in its band."""
    import clero
    import pandas as pd

    name, side = group
    table = pd.DataFrame(sample_parameters(n, seed, tuple(universe_cfg.co2_range), tuple(universe_cfg.ch4_range)))
    (lo, hi), (elo, ehi) = clero.CORE_DOMAIN[name], clero.EXTENDED_DOMAIN[name]
    a, b = (elo, lo) if side == "low" else (hi, ehi)
    u = np.random.default_rng([seed, 0xBA4D]).random(n)
    table[name] = 10.0 ** (np.log10(a) + u * np.log10(b / a)) if name in LOG_PARAMETERS else a + u * (b - a)
    return table


def clero_truth(table, batch: int = 256) -> dict[str, np.ndarray]:
    """CLERO's climate of each row: global-mean Ts, habitable fraction (at its P0) and state."""
    import warnings

    import clero

    emulator = clero.Emulator()
    out = {"mean_ts": [], "habitable_fraction": [], "state": []}
    for start in range(0, len(table), batch):
        rows = {name: table[name].to_numpy()[start:start + batch] for name in PARAMETER_NAMES}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # outside the core domain by construction
            fields = emulator.predict(rows)
        ts = fields["surface_temperature"]
        out["mean_ts"].append(np.einsum("pij,ij->p", ts, area_weights(*ts.shape[-2:])))
        out["habitable_fraction"].append(habitable_fraction(ts, rows["P0"]))
        out["state"].append(climate_states(fields, rows))
    return {k: np.concatenate(v) for k, v in out.items()}


def calibrate_floor(error: np.ndarray, spread: np.ndarray, target: float = TARGET_COVERAGE) -> float:
    """The smallest floor s >= 0 with share(|error| <= √(spread² + s²)) >= target."""
    error, spread = np.abs(error), np.asarray(spread)
    if len(error) == 0:
        return float("nan")
    needed = np.sqrt(np.maximum(error**2 - spread**2, 0.0))  # each planet's floor to be covered
    return float(np.quantile(needed, target, method="higher"))


def _scores(predicted: dict, truth: dict, rows: np.ndarray) -> dict:
    ok = predicted["draws_counted"][rows] > 0
    r = rows[ok]
    return {"planets": int(len(r)), "habitable_fraction_mae": float(np.mean(np.abs(predicted["habitable_fraction"][r] - truth["habitable_fraction"][r]))) if len(r) else None,
            "mean_ts_error_K": float(np.mean(np.abs(predicted["mean_ts"][r] - truth["mean_ts"][r]))) if len(r) else None,
            "state_accuracy": float(np.mean(predicted["state"][r] == truth["state"][r])) if len(r) else None}


def region_validity(predicted: dict, truth: dict, calibrate: np.ndarray, evaluate: np.ndarray, limits: dict | None) -> dict:
    """Floors fitted on `calibrate`, coverage and errors measured on `evaluate` (row indices)."""
    out = {"calibration": _scores(predicted, truth, calibrate), "evaluation": _scores(predicted, truth, evaluate)}
    for key, spread in (("habitable_fraction", "habitable_fraction_spread"), ("mean_ts", "mean_ts_spread")):
        cal, ev = (rows[predicted["draws_counted"][rows] > 0] for rows in (calibrate, evaluate))
        floor = calibrate_floor(predicted[key][cal] - truth[key][cal], predicted[spread][cal])
        sigma = np.sqrt(predicted[spread][ev] ** 2 + floor**2)
        z = np.abs(predicted[key][ev] - truth[key][ev]) / np.maximum(sigma, 1e-12)
        out[key] = {"floor": floor, "coverage_68": float(np.mean(z <= 1.0)) if len(ev) else None,
                    "coverage_95": float(np.mean(z <= 1.96)) if len(ev) else None}
    if limits is not None:
        # both halves must meet the limits: a band of ~30 planets near a limit passes on one half by luck
        out["accepted"] = all(c["planets"] > 0 and c["habitable_fraction_mae"] <= limits["habitable_mae"] and c["mean_ts_error_K"] <= limits["ts_error_K"]
                              for c in (out["calibration"], out["evaluation"]))
    return out


def measure_validity(climate, cfg, universe, test: np.ndarray, validation: np.ndarray, quantiles: dict, prior: dict, log=print) -> dict:
    """The core and band validity of `climate` (module docstring); what `predict` reads from the manifest."""

    pc, noise = cfg.components.production, cfg.data.observation.catalog_noise.model_dump()
    limits = {"habitable_mae": pc.max_extrapolated_habitable_mae, "ts_error_K": pc.max_extrapolated_ts_error_K}

    def as_catalog(table, seed):  # the catalog's noise on what it measures; the atmosphere is drawn by predict_draws
        return catalog_view(table, noise, {k: 0.0 for k in ("P0", "CO2", "CH4")}, seed)[list(PARAMETER_NAMES)]

    params = universe.parameters
    rows = np.concatenate([validation, test])
    core_truth = {"habitable_fraction": params["habitable_fraction"].to_numpy()[rows], "state": params["climate_state"].to_numpy()[rows],
                  "mean_ts": params["global_mean_surface_temperature"].to_numpy()[rows]}
    core = predict_draws(climate, as_catalog(params.iloc[rows].reset_index(drop=True), cfg.run.seed), quantiles, prior)
    index = np.arange(len(rows))
    out = {"method": "predicted as catalog planets: catalog noise, atmosphere drawn from the prior, representative draw",
           "draws": len(quantiles["P0"]), "acceptance": limits,
           "core": region_validity(core, core_truth, index[: len(validation)], index[len(validation):], None), "bands": {}}
    for g, group in enumerate(band_groups()):
        table = band_planets(group, pc.validity_planets, cfg.run.seed + 101 * (g + 1), cfg.data.universe)
        truth = clero_truth(table)
        predicted = predict_draws(climate, as_catalog(table, cfg.run.seed + g), quantiles, prior)
        half = len(table) // 2
        index = np.arange(len(table))
        out["bands"][f"{group[0]} {group[1]}"] = {"range": _band_range(group), **region_validity(predicted, truth, index[:half], index[half:], limits)}
        band = out["bands"][f"{group[0]} {group[1]}"]
        both = lambda key, fmt: " / ".join("—" if band[h][key] is None else fmt.format(band[h][key]) for h in ("calibration", "evaluation"))  # noqa: E731
        log(f"production: validity of {group[0]} {group[1]}: habitable-fraction MAE {both('habitable_fraction_mae', '{:.3f}')}, "
            f"mean-Ts error {both('mean_ts_error_K', '{:.1f}')} K (calibration / evaluation) → {'predicted' if band['accepted'] else 'withheld'}")
    return out


def _band_range(group: tuple[str, str]) -> list[float]:
    import clero

    name, side = group
    (lo, hi), (elo, ehi) = clero.CORE_DOMAIN[name], clero.EXTENDED_DOMAIN[name]
    return [float(elo), float(lo)] if side == "low" else [float(hi), float(ehi)]


def planet_groups(table) -> list[list[str]]:
    """Per row: the bands it lies in ("F_star high", …), empty inside the core domain."""
    import clero

    groups = band_groups()
    out = []
    for _, row in table.iterrows():
        mine = []
        for name, side in groups:
            lo, hi = clero.CORE_DOMAIN[name]
            if (side == "low" and row[name] < lo) or (side == "high" and row[name] > hi):
                mine.append(f"{name} {side}")
        out.append(mine)
    return out
