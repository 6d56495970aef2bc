"""One physical story per planet: climate state and habitable fraction read off the predicted map.

The surface-temperature map is authoritative. From it, with the labels' own definitions:

* the habitable fraction — the area with 273.15 K <= Ts <= the boiling point at the planet's P0
  (`universe/labels.py`, IAPWS-IF97);
* the ice-cover states of `clero.climate_analysis.climate_state` — snowball (no cell above
  273.15 K), globally temperate (every cell above), waterbelt (some latitude row entirely above),
  eyeball (the rest) — and runaway greenhouse where the global-mean Ts exceeds 400 K.

Only what the map cannot show — a moist greenhouse (water at the top level) or a runaway by column
water below 400 K — is taken from the surrogate's state head, and only when it says so. So a
"globally temperate" state never comes with a map that has frozen cells, and a map hotter than
its boiling point everywhere never has a habitable fraction above zero.

Over a planet's draws (atmospheres, inclinations), the *representative draw* is the one of median
global-mean Ts: its map, state and fraction are the point prediction (one map, so one story); the
spread over all draws is the uncertainty, and the share of draws in the representative's state its
probability.
"""

from __future__ import annotations

import warnings

import numpy as np

from ...data.features import parameter_features
from ...data.mapping import in_domain
from ...universe.labels import area_weights, habitable_fraction
from ...universe.sampling import PARAMETER_NAMES
from ...universe.thermo import MELTING_POINT_K, boiling_point
from .draws import planet_draws

STATES = ("snowball", "eyeball", "waterbelt", "globally_temperate", "moist_greenhouse", "runaway_greenhouse")
RUNAWAY_TS_K = 400.0  # clero.climate_analysis.climate_state's global-mean threshold
HEAD_ONLY = (STATES.index("moist_greenhouse"), STATES.index("runaway_greenhouse"))


def ice_cover_state(ts: np.ndarray) -> np.ndarray:
    """CLERO's ice-cover classes of maps `[n, lat, lon]` as state codes."""
    warm = ts > MELTING_POINT_K
    none, every = ~warm.any(axis=(-2, -1)), warm.all(axis=(-2, -1))
    belt = warm.all(axis=-1).any(axis=-1)
    return np.select([none, every, belt], [STATES.index("snowball"), STATES.index("globally_temperate"), STATES.index("waterbelt")],
                     STATES.index("eyeball"))


def read_maps(ts: np.ndarray, state_probabilities: np.ndarray, surface_pressure_bar: np.ndarray) -> dict[str, np.ndarray]:
    """Per map `[n, lat, lon]`: global-mean Ts, habitable fraction at its P0, the boiling point and the state."""
    mean_ts = np.einsum("nij,ij->n", ts, area_weights(*ts.shape[-2:]))
    head = state_probabilities.argmax(axis=1)
    state = np.where(mean_ts > RUNAWAY_TS_K, STATES.index("runaway_greenhouse"), np.where(np.isin(head, HEAD_ONLY), head, ice_cover_state(ts)))
    return {"mean_ts": mean_ts, "habitable_fraction": habitable_fraction(ts, surface_pressure_bar),
            "boiling_point": boiling_point(np.asarray(surface_pressure_bar) * 1e5), "state": state}


def summarise_draws(readout: dict[str, np.ndarray], n: int, k: int, usable: np.ndarray) -> dict[str, np.ndarray]:
    """Reduce `n × k` draws (planet-major; `usable` [n, k] marks draws inside the domain) to the point
    prediction (the representative draw), the spreads, the state probability and how many draws counted."""
    values = {key: v.reshape(n, k) for key, v in readout.items()}
    order_ts = np.where(usable, values["mean_ts"], np.nan)
    counted = usable.sum(axis=1)
    rep = np.zeros(n, dtype=np.int64)
    for i in np.flatnonzero(counted):
        candidates = np.flatnonzero(usable[i])
        rep[i] = candidates[np.argsort(values["mean_ts"][i, candidates], kind="stable")[len(candidates) // 2]]
    pick = lambda key: values[key][np.arange(n), rep]  # noqa: E731
    with warnings.catch_warnings():  # a planet with a single usable draw has no spread: NaN, as intended
        warnings.filterwarnings("ignore", message="Degrees of freedom <= 0", category=RuntimeWarning)
        spread_hab = np.nanstd(np.where(usable, values["habitable_fraction"], np.nan), axis=1)
        spread_ts = np.nanstd(order_ts, axis=1)
    state = pick("state")
    probability = np.where(counted > 0, (np.where(usable, values["state"], -1) == state[:, None]).sum(axis=1) / np.maximum(counted, 1), np.nan)
    return {"representative_draw": rep, "draws_counted": counted, "mean_ts": pick("mean_ts"), "habitable_fraction": pick("habitable_fraction"),
            "boiling_point": pick("boiling_point"), "state": state, "state_probability": probability,
            "habitable_fraction_spread": spread_hab, "mean_ts_spread": spread_ts}


def predict_draws(climate, table, quantiles: dict, prior: dict, grid_shape=(32, 64), keep_maps: bool = False) -> dict[str, np.ndarray]:
    """The point prediction and spreads of every planet of `table` (mapped rows) under its draws.

    `climate(features [m, 8]) -> (surface-T maps [m, P], state probabilities [m, 6])` is the shipped
    surrogate on any backend; draws outside CLERO's extended domain do not count. `keep_maps`: also
    the representative draw's map of each planet (`maps` [n, P])."""
    import clero
    import pandas as pd

    n, k = len(table), len(quantiles["P0"])
    params = pd.DataFrame(planet_draws(table, quantiles, prior), columns=list(PARAMETER_NAMES))
    usable = in_domain(params, clero.EXTENDED_DOMAIN).reshape(n, k)
    ts, probabilities = climate(parameter_features(params)) if n else (np.zeros((0, grid_shape[0] * grid_shape[1])), np.zeros((0, len(STATES))))
    readout = read_maps(np.asarray(ts, dtype=np.float64).reshape(-1, *grid_shape), np.asarray(probabilities), params["P0"].to_numpy())
    summary = summarise_draws(readout, n, k, usable)
    chosen = np.arange(n) * k + summary["representative_draw"]
    summary["P0"] = params["P0"].to_numpy()[chosen]  # the representative draw's
    if keep_maps:
        summary["maps"] = np.asarray(ts)[chosen]
    return summary
