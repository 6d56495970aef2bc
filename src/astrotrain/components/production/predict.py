"""`astrotrain predict --run RUN --catalog nasa | --input planets.csv [--backend onnx|onnx-int8|torch]`.

Real planets go through the data-acquisition doors (`data/nasa.py`, `data/mapping.py`: the 8 CLERO
inputs with what was imputed, assumed and flagged). Then, per planet, one of:

| status | when | what is given |
|---|---|---|
| `ok` | every input inside CLERO's core domain (where the models were trained) | the prediction, σ calibrated on core planets |
| `extrapolated` | inside the extended domain, in bands where the measured error is acceptable (`validity.py`) | the prediction, σ calibrated in those bands |
| `limit` | outside the core domain, of the modelled kind (radius and gravity inside the extended domain) and beyond a documented climate limit (`universe/habitable_zone.py`) | the limit's label: runaway greenhouse or snowball, habitable fraction 0, and the reason |
| `withheld` | inside the extended domain, in a band where the measured error is too large | no number: the reason, with the measured error |
| `not predicted` | outside the extended domain and within the limits | no number: the reason |
| `rejected` | the row cannot be mapped or read | the reason |

A prediction is one physical story (`readout.py`): over the planet's draws (atmosphere from the
universe's prior or the row's own, inclination for an M sin i: `draws.py`) the surrogate's maps,
read out; the representative draw's map gives the habitable fraction, the climate state, the mean
surface temperature and the boiling point they are judged against; the spread over the draws and
the region's calibrated floor give σ. Rows are ranked by status in the order above (core domain
first), then by habitable fraction; the CSV says so in its header. The ONNX backends import
onnxruntime and numpy only — never torch (tested).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...data.mapping import EARTH_GRAVITY, in_domain, map_archive
from ...data.nasa import load_cached, read_archive_csv
from ...errors import UserError
from ...fsutil import atomic_write_json, atomic_write_text
from ...hashing import sha256_file
from ...runs import layout as rd
from ...runs.layout import is_pipeline_run, phase_run_dir
from ...universe.habitable_zone import climate_limit, maximum_greenhouse_limit, runaway_limit
from ...universe.sampling import PARAMETER_NAMES, PARAMETER_UNITS
from .draws import msini_point
from .predictors import load_predictor
from .readout import STATES, predict_draws
from .report import plot_habitability, plot_top_maps
from .sanity import sanity_table
from .validity import planet_groups

PREDICTIONS_DIR = "predictions"
CHUNK_PLANETS = 256
STATUS_ORDER = ("ok", "extrapolated", "limit", "withheld", "not predicted", "rejected")
COLUMNS = ["rank", "pl_name", "status", "reason", "habitable_fraction", "habitable_fraction_sd", "climate_state", "climate_state_probability",
           "surface_temperature_mean_K", "surface_temperature_sd_K", "boiling_point_K", "P0_bar", "S_eff", "runaway_limit_S_eff",
           "maximum_greenhouse_S_eff", "bands", "domain_flags", "imputed", "assumed", "caveats", "input_issues", "mass_provenance",
           "draws_counted", "in_core_domain", "in_extended_domain", "T_star", "F_star", "radius", "gravity", "P_rot", "source_line"]
CSV_HEADER = ("# astrotrain predict: one row per input planet, ranked by status — ok (inside CLERO's core domain), extrapolated, limit "
              "(beyond a documented climate limit), withheld, not predicted, rejected — then by habitable_fraction, highest first.\n"
              "# habitable_fraction, climate_state and surface_temperature_mean_K come from one predicted map (the representative "
              "draw); *_sd is the spread over the draws with the calibrated floor; `reason` says why a row has no number.\n")


@dataclass
class PredictionResult:
    folder: Path
    csv: Path
    table: object  # pandas.DataFrame, ranked
    summary: dict


def production_run_dir(run: Path) -> Path:
    """The finished production run inside `run` (a pipeline run) or `run` itself (a production component run)."""
    if not (run / rd.CONFIG_FILE).is_file():
        raise UserError(f"--run {run}: not an astrotrain run directory (no {rd.CONFIG_FILE})")
    folder = phase_run_dir(run, "production", "production") if is_pipeline_run(run) else run
    if not (folder / "export" / "manifest.json").is_file():
        raise UserError(f"--run {run}: no finished production phase in {folder} (no export/manifest.json); finish the pipeline with "
                        f"`python train.py --resume {run}`, or run `python train.py --component production components.production.source=<run>`")
    return folder


def read_manifest(folder: Path) -> dict:
    """The export manifest, every file checked against its sha256."""
    manifest = json.loads((folder / "export" / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        path = folder / "export" / name
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            raise UserError(f"{path} is missing or does not match the sha256 in {folder / 'export' / 'manifest.json'}; "
                            "re-run the production phase")
    return manifest


def read_catalog(catalog: str | None, input_csv: str | None, cache_root: str):
    """(archive rows with `source_line`, rows/values the reader rejected, a name for the output folder)."""
    if (catalog is None) == (input_csv is None):
        raise UserError("give exactly one of --catalog nasa (the `astrotrain data fetch nasa` cache) and --input planets.csv (an archive CSV)")
    if catalog is not None:
        if catalog != "nasa":
            raise UserError(f"--catalog {catalog}: the only catalog is 'nasa' (the cached NASA Exoplanet Archive table); "
                            "give a CSV file with --input")
        frame = load_cached(cache_root)
        frame.insert(0, "source_line", np.arange(2, len(frame) + 2))
        return frame, [], "nasa"
    table = read_archive_csv(input_csv)
    return table.frame, table.rejected, Path(input_csv).stem


def predict_catalog(run: str | Path, catalog: str | None = None, input_csv: str | None = None, backend: str = "onnx",
                    output: str | Path | None = None, log=print) -> PredictionResult:
    folder = production_run_dir(Path(run))
    manifest = read_manifest(folder)
    frame, reader_rejected, name = read_catalog(catalog, input_csv, manifest["archive_cache_dir"])
    if backend == "onnx-int8" and not manifest["int8"]:
        raise UserError("--backend onnx-int8: this run exported no int8 models (components.production.int8 was false); use --backend onnx")
    if backend == "onnx-int8" and not manifest.get("int8_accepted", {}).get("surrogate", False):
        raise UserError("--backend onnx-int8: the int8 surrogate of this run failed its accuracy check (surface-T RMSE grew by more than "
                        "components.production.int8_max_rmse_increase_K; see its model card), so it is not served; use --backend onnx")
    predictor = load_predictor(backend, folder, manifest)
    mapped = map_archive(frame, manifest["default_atmosphere"])
    log(f"predict: {len(frame)} planets from {name} ({len(mapped.rejected)} not mappable), {len(manifest['atmosphere_quantiles']['P0'])} draws each, backend {backend}")
    table = _rank(_with_rejected(assess(predictor.climate, mapped.inputs, manifest), mapped.rejected, reader_rejected))
    if len(table) != len(frame) + sum("column" not in r for r in reader_rejected):
        raise RuntimeError(f"predict lost rows: {len(table)} out of {len(frame)}")  # never silently dropped

    out = folder / PREDICTIONS_DIR / name
    (out / "plots").mkdir(parents=True, exist_ok=True)
    csv_text = CSV_HEADER + table[COLUMNS].to_csv(index=False, float_format="%.6g")
    atomic_write_text(out / "predictions.csv", csv_text)
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(output), csv_text)
    summary = _summary(table, name, backend, manifest, out, sanity_table(table))
    _plots(predictor, table, manifest, out)
    atomic_write_json(out / "summary.json", summary)
    log(f"predict: wrote {out / 'predictions.csv'}" + (f" and {output}" if output else "") + " — "
        + ", ".join(f"{v} {k}" for k, v in summary["by_status"].items()))
    return PredictionResult(out, Path(output) if output else out / "predictions.csv", table, summary)


def assess(climate, inputs, manifest: dict):
    """Every mapped planet's status, reason and — where it gets one — its prediction (module docstring)."""
    import clero

    point = msini_point(inputs)  # what the domain and the limits are judged by (an M sin i at its median inclination)
    table = inputs.copy()
    mass = (point["gravity"] * point["radius"] ** 2 / EARTH_GRAVITY).to_numpy()
    limit, s_eff = climate_limit(point["F_star"], point["T_star"], mass)
    table["S_eff"], table["runaway_limit_S_eff"] = s_eff, runaway_limit(point["T_star"], mass)
    table["maximum_greenhouse_S_eff"] = maximum_greenhouse_limit(point["T_star"])
    table["in_core_domain"], table["in_extended_domain"] = in_domain(point, clero.CORE_DOMAIN), in_domain(point, clero.EXTENDED_DOMAIN)
    groups = planet_groups(point)
    table["bands"] = ["; ".join(g) for g in groups]
    validity = manifest["validity"]
    # the limits are those of rocky, water-rich planets (Kopparapu et al. fit 0.1-5 M⊕): a planet whose radius or gravity
    # leaves the extended domain is not of the modelled kind, and gets no limit label either
    rocky = in_domain(point, {**{k: (-np.inf, np.inf) for k in clero.EXTENDED_DOMAIN}, "radius": clero.EXTENDED_DOMAIN["radius"],
                              "gravity": clero.EXTENDED_DOMAIN["gravity"]})
    limit = np.where(rocky, limit, "")
    status, reason = _decide(table, limit, groups, validity)
    table["status"], table["reason"] = status, reason
    for column in ("habitable_fraction", "habitable_fraction_sd", "climate_state_probability", "surface_temperature_mean_K",
                   "surface_temperature_sd_K", "boiling_point_K", "P0_bar", "draws_counted"):
        table[column] = np.nan
    table["climate_state"] = None
    rows = np.flatnonzero(np.isin(status, ("ok", "extrapolated")))
    for start in range(0, len(rows), CHUNK_PLANETS):
        chunk = rows[start:start + CHUNK_PLANETS]
        p = predict_draws(climate, inputs.iloc[chunk], manifest["atmosphere_quantiles"], manifest["atmosphere_prior"], tuple(manifest["grid_shape"]))
        floors = np.array([_floors(validity, groups[i]) for i in chunk])
        table.loc[chunk, "habitable_fraction"] = p["habitable_fraction"]
        table.loc[chunk, "habitable_fraction_sd"] = np.sqrt(p["habitable_fraction_spread"] ** 2 + floors[:, 0] ** 2)
        table.loc[chunk, "surface_temperature_mean_K"] = p["mean_ts"]
        table.loc[chunk, "surface_temperature_sd_K"] = np.sqrt(p["mean_ts_spread"] ** 2 + floors[:, 1] ** 2)
        table.loc[chunk, ["boiling_point_K", "P0_bar", "draws_counted", "climate_state_probability"]] = np.stack(
            [p["boiling_point"], p["P0"], p["draws_counted"], p["state_probability"]], axis=1)
        table.loc[chunk, "climate_state"] = [STATES[s] for s in p["state"]]
        none = chunk[p["draws_counted"] == 0]  # e.g. an M sin i whose every inclination leaves the domain
        table.loc[none, ["habitable_fraction", "habitable_fraction_sd", "surface_temperature_mean_K", "surface_temperature_sd_K"]] = np.nan
        table.loc[none, "climate_state"] = None
        table.loc[none, "status"] = "withheld"
        table.loc[none, "reason"] = "no draw (atmosphere, inclination) lies inside CLERO's extended domain"
    for kind, state in (("runaway", "runaway_greenhouse"), ("frozen", "snowball")):
        hit = (table["status"] == "limit").to_numpy() & (limit == kind)
        table.loc[hit, "habitable_fraction"] = 0.0
        table.loc[hit, "climate_state"] = state
    table["domain_flags"] = _domain_flags(point)
    msini = table["msini"].to_numpy(bool) if "msini" in table else np.zeros(len(table), bool)
    table.loc[msini, ["radius", "gravity"]] = point.loc[msini, ["radius", "gravity"]]  # the values judged: at the median inclination
    table.loc[msini, "caveats"] = table.loc[msini, "caveats"] + " (radius and gravity shown at the median inclination, 60°)"
    return table


def _decide(table, limit: np.ndarray, groups: list[list[str]], validity: dict) -> tuple[np.ndarray, list[str]]:
    status, reason = [], []
    bands = validity["bands"]
    for i, row in enumerate(table.to_dict("records")):
        mass = row["gravity"] * row["radius"] ** 2 / 9.81
        if row["in_core_domain"]:
            status.append("ok")
            reason.append("")
        elif limit[i] == "runaway":
            status.append("limit")
            reason.append(f"runaway greenhouse likely: S_eff = {row['S_eff']:.2f} exceeds the runaway limit {row['runaway_limit_S_eff']:.2f} "
                          f"for T_eff {row['T_star']:.0f} K and {mass:.2g} M⊕ (Kopparapu et al. 2014, × 1.5 for a synchronous rotator's "
                          "clouds: Yang et al. 2013, Kopparapu et al. 2016)")
        elif limit[i] == "frozen":
            status.append("limit")
            reason.append(f"snowball likely: S_eff = {row['S_eff']:.2f} is below the maximum-greenhouse limit {row['maximum_greenhouse_S_eff']:.2f} "
                          "(Kopparapu et al. 2014): no CO2 greenhouse keeps the surface above freezing")
        elif not row["in_extended_domain"]:
            status.append("not predicted")
            reason.append("outside CLERO's extended domain, where no model trained on CLERO knows anything, and inside the climate limits")
        else:
            bad = [g for g in groups[i] if not bands[g]["accepted"]]
            if bad:
                status.append("withheld")
                reason.append("; ".join(f"{g}: the measured error there (habitable-fraction MAE {bands[g]['calibration']['habitable_fraction_mae']:.2f}, "
                                        f"mean-Ts error {bands[g]['calibration']['mean_ts_error_K']:.1f} K) exceeds "
                                        f"{validity['acceptance']['habitable_mae']:g} / {validity['acceptance']['ts_error_K']:g} K" for g in bad))
            else:
                status.append("extrapolated")
                reason.append("outside the core domain in " + ", ".join(
                    f"{g} (measured there: MAE {bands[g]['evaluation']['habitable_fraction_mae']:.2f}, σ calibrated)" for g in groups[i]))
    return np.array(status, dtype=object), reason


def _floors(validity: dict, groups: list[str]) -> tuple[float, float]:
    """σ floors (habitable fraction, mean Ts) of a planet: the core's, or the largest of its bands'."""
    regions = [validity["bands"][g] for g in groups] or [validity["core"]]
    return (max(r["habitable_fraction"]["floor"] for r in regions), max(r["mean_ts"]["floor"] for r in regions))


def _with_rejected(table, mapping_rejected: list[dict], reader_rejected: list[dict]):
    import pandas as pd

    rejected = pd.DataFrame([{"pl_name": r["pl_name"], "source_line": r["line"], "status": "rejected", "reason": r["reason"]} for r in mapping_rejected]
                            + [{"pl_name": None, "source_line": r["line"], "status": "rejected", "reason": f"line {r['line']}: {r['reason']}"}
                               for r in reader_rejected if "column" not in r])
    issues = {}
    for r in reader_rejected:
        if "column" in r:
            issues.setdefault(r["line"], []).append(f"{r['column']}={r['value']!r} is not a number (treated as missing)")
    out = pd.concat([table, rejected], ignore_index=True)
    out["input_issues"] = [("; ".join(issues.get(int(line), [])) if line == line else "") for line in out["source_line"]]
    return out


def _summary(table, name: str, backend: str, manifest: dict, out: Path, sanity: dict) -> dict:
    ok = table[table["status"] == "ok"]
    return {"source": name, "backend": backend, "planets": int(len(table)), "predicted": int(table["habitable_fraction"].notna().sum()),
            "by_status": {s: int((table["status"] == s).sum()) for s in STATUS_ORDER},
            "msini_planets": int(table["msini"].fillna(False).astype(bool).sum()) if "msini" in table else 0,
            "mass_radius_planets": int(table["imputed"].fillna("").str.contains("M-R").sum()),
            "draws": len(manifest["atmosphere_quantiles"]["P0"]), "csv": str(out / "predictions.csv"),
            "top_10": ok.head(10)[["pl_name", "habitable_fraction", "habitable_fraction_sd", "climate_state"]].to_dict("records"),
            "literature_sanity": sanity}


def _plots(predictor, table, manifest: dict, out: Path) -> None:
    top = table[table["status"] == "ok"].head(manifest["top_candidates"])
    plot_habitability(table, out / "plots" / "habitable_fraction_vs_instellation_and_stellar_temperature.png")
    if len(top):
        maps = predict_draws(predictor.climate, top, manifest["atmosphere_quantiles"], manifest["atmosphere_prior"], tuple(manifest["grid_shape"]),
                             keep_maps=True)["maps"]
        plot_top_maps(maps, top, manifest["grid_shape"], out / "plots" / "surface_temperature_top_candidates.png")


def _domain_flags(table) -> list[str]:
    """Per row: every input outside CLERO's core domain, with the bound it breaks (and whether the extended domain holds it)."""
    import clero

    flags = []
    for _, row in table.iterrows():
        out = []
        for name in PARAMETER_NAMES:
            value, (lo, hi), (elo, ehi) = row[name], clero.CORE_DOMAIN[name], clero.EXTENDED_DOMAIN[name]
            if value < lo or value > hi:
                side, bound, ebound = ("<", lo, elo) if value < lo else (">", hi, ehi)
                beyond = value < elo or value > ehi
                out.append(f"{name}={value:.3g} {PARAMETER_UNITS[name]} {side} core {'min' if side == '<' else 'max'} {bound:.3g}"
                           + (f" and extended {ebound:.3g}" if beyond else ""))
        flags.append("; ".join(out))
    return flags


def _rank(table):
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    table = table.assign(_group=[order.get(s, len(STATUS_ORDER)) for s in table["status"]])
    table = table.sort_values(["_group", "habitable_fraction", "pl_name"], ascending=[True, False, True], na_position="last", kind="mergesort")
    table = table.drop(columns="_group").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    for column in COLUMNS:
        if column not in table:
            table[column] = None
    return table
