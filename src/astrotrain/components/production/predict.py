"""`astrotrain predict --run RUN --catalog nasa | --input planets.csv [--backend onnx|onnx-int8|torch]`.

Real planets go through the data-acquisition doors (`data/nasa.py` reads the archive's CSV export
or the `data fetch nasa` cache; `data/mapping.py` maps each row to the 8 CLERO inputs and says what
it imputed). The atmosphere (P0, CO2, CH4) of an archive planet is not observed, so each planet is
predicted under `atmosphere_draws` atmospheres drawn from the universe's prior (listed in the
export manifest): the habitable fraction is their mean, its uncertainty the spread over them
combined with fusion's held-out RMSE (from parameters alone) in quadrature; the climate state is
the most probable under the mean state probabilities. The surrogate gives the surface-temperature
maps (global mean ± spread; maps of the top candidates).

Every input row comes out: predicted (`status` ok; or `outside core domain (extrapolated)` when
an input lies between CLERO's core and extended domains), or with empty predictions and the
reason — `outside extended domain: not predicted` (no model trained on CLERO knows anything
there), `rejected: <why>` (the row cannot be mapped, or the reader could not parse it). Every
out-of-domain input is named in `domain_flags` with the bound it breaks. Rows are ranked: core
domain first, then extended, then the rest; within each by habitable fraction.

The ONNX backends import onnxruntime and numpy only — never torch (tested).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import UserError
from ...fsutil import atomic_write_json, atomic_write_text
from ...hashing import sha256_file
from ...training import run_dir as rd

PREDICTIONS_DIR = "predictions"
CHUNK_PLANETS = 256
STATUS_ORDER = ("ok", "outside core domain (extrapolated)", "outside extended domain: not predicted")


@dataclass
class PredictionResult:
    folder: Path
    csv: Path
    table: object  # pandas.DataFrame, ranked
    summary: dict


def production_run_dir(run: Path) -> Path:
    """The finished production run inside `run` (a pipeline run) or `run` itself (a production component run)."""
    from ...training.pipeline import is_pipeline_run, phase_run_dir

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
    from ...data.nasa import load_cached, read_archive_csv

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
    import pandas as pd

    from ...data.mapping import map_archive
    from .predictors import load_predictor
    from .report import plot_habitability, plot_top_maps

    folder = production_run_dir(Path(run))
    manifest = read_manifest(folder)
    frame, reader_rejected, name = read_catalog(catalog, input_csv, manifest["archive_cache_dir"])
    if backend == "onnx-int8" and not manifest["int8"]:
        raise UserError("--backend onnx-int8: this run exported no int8 models (components.production.int8 was false); use --backend onnx")
    predictor = load_predictor(backend, folder, manifest)
    mapped = map_archive(frame, manifest["default_atmosphere"])
    inputs = mapped.inputs
    draws = _atmospheres(manifest)
    log(f"predict: {len(frame)} planets from {name} ({len(mapped.rejected)} not mappable), {len(draws)} atmospheres each, backend {backend}")
    inside = inputs[inputs["in_extended_domain"]].reset_index(drop=True)  # beyond it CLERO (and so the models) know nothing
    rows = [_predict_chunk(predictor, inside.iloc[i:i + CHUNK_PLANETS], draws, manifest) for i in range(0, len(inside), CHUNK_PLANETS)]
    predicted = pd.concat([inside, pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()], axis=1)
    predicted = pd.concat([predicted, inputs[~inputs["in_extended_domain"]]], ignore_index=True)
    predicted["domain_flags"] = _domain_flags(predicted)
    predicted["status"] = np.where(predicted["in_core_domain"], STATUS_ORDER[0],
                                   np.where(predicted["in_extended_domain"], STATUS_ORDER[1], STATUS_ORDER[2]))
    rejected = pd.DataFrame([{"pl_name": r["pl_name"], "source_line": r["line"], "status": f"rejected: {r['reason']}"} for r in mapped.rejected]
                            + [{"pl_name": None, "source_line": r["line"], "status": f"rejected: line {r['line']}: {r['reason']}"}
                               for r in reader_rejected if "column" not in r])
    issues = {}
    for r in reader_rejected:
        if "column" in r:
            issues.setdefault(r["line"], []).append(f"{r['column']}={r['value']!r} is not a number (treated as missing)")
    table = _rank(pd.concat([predicted, rejected], ignore_index=True))
    table["input_issues"] = [("; ".join(issues.get(int(line), [])) if line == line else "") for line in table["source_line"]]
    if len(table) != len(frame) + sum("column" not in r for r in reader_rejected):
        raise RuntimeError(f"predict lost rows: {len(table)} out of {len(frame)}")  # never silently dropped

    out = folder / PREDICTIONS_DIR / name
    (out / "plots").mkdir(parents=True, exist_ok=True)
    csv_text = table[COLUMNS].to_csv(index=False, float_format="%.6g")
    atomic_write_text(out / "predictions.csv", csv_text)
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(output), csv_text)
    ok = table[table["status"] == STATUS_ORDER[0]]
    top = ok.head(manifest["top_candidates"])
    maps = predictor.mean_maps(top, draws) if len(top) else None
    plot_habitability(table, out / "plots" / "habitable_fraction_vs_instellation_and_stellar_temperature.png")
    if maps is not None:
        plot_top_maps(maps, top, manifest["grid_shape"], out / "plots" / "surface_temperature_top_candidates.png")
    summary = {"source": name, "backend": backend, "planets": int(len(table)), "predicted": int(table["habitable_fraction"].notna().sum()),
               "rejected": int(table["status"].str.startswith("rejected").sum()),
               "by_status": {k: int(v) for k, v in table["status"].str.split(":").str[0].value_counts().items()},
               "atmosphere_draws": len(draws), "csv": str(out / "predictions.csv"),
               "top_10": ok.head(10)[["pl_name", "habitable_fraction", "habitable_fraction_sd", "climate_state"]].to_dict("records")}
    atomic_write_json(out / "summary.json", summary)
    log(f"predict: wrote {out / 'predictions.csv'}" + (f" and {output}" if output else "") + f" ({summary['predicted']} predicted, "
        f"{summary['rejected']} rejected; {int(len(ok))} inside CLERO's core domain)")
    return PredictionResult(out, Path(output) if output else out / "predictions.csv", table, summary)


COLUMNS = ["rank", "pl_name", "habitable_fraction", "habitable_fraction_sd", "climate_state", "climate_state_probability",
           "surface_temperature_mean_K", "surface_temperature_sd_K", "status", "domain_flags", "imputed", "input_issues",
           "in_core_domain", "in_extended_domain", "T_star", "F_star", "radius", "gravity", "P_rot", "source_line"]


def _atmospheres(manifest: dict):
    import pandas as pd

    return pd.DataFrame(manifest["atmospheres"])


def _predict_chunk(predictor, planets, draws, manifest: dict):
    """Predictions of a chunk of planets, each under every drawn atmosphere, reduced per planet."""
    import pandas as pd

    from ...data.features import parameter_features
    from ...universe.labels import area_weights

    n, k = len(planets), len(draws)
    grid = planets.loc[planets.index.repeat(k)].reset_index(drop=True)
    for column in ("P0", "CO2", "CH4"):
        grid[column] = np.tile(draws[column].to_numpy(), n)
    probs, fraction, ts = predictor.predict(parameter_features(grid))
    mean_ts = (ts.reshape(n * k, -1) @ area_weights(*manifest["grid_shape"]).reshape(-1)).reshape(n, k)
    probs, fraction = probs.reshape(n, k, -1).mean(axis=1), fraction.reshape(n, k).astype(np.float64)
    spread = fraction.std(axis=1)
    states = np.asarray(manifest["climate_states"])
    return pd.DataFrame({
        "habitable_fraction": fraction.mean(axis=1),
        "habitable_fraction_sd": np.sqrt(spread**2 + manifest["fusion_habitable_fraction_rmse"] ** 2),
        "climate_state": states[probs.argmax(axis=1)],
        "climate_state_probability": probs.max(axis=1),
        "surface_temperature_mean_K": mean_ts.mean(axis=1),
        "surface_temperature_sd_K": mean_ts.std(axis=1),
    })


def _domain_flags(table) -> list[str]:
    """Per row: every input outside CLERO's core domain, with the bound it breaks (and whether the extended domain holds it)."""
    import clero

    from ...universe.sampling import PARAMETER_NAMES, PARAMETER_UNITS

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
