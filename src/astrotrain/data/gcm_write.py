"""Writing an opened GCM run as an astrotrain datacube, with its manifest, parameters and value checks.

`write_datacube` writes `out_dir/climate.zarr` in the layout of a universe's (one planet: the run)
plus `manifest.json`: the source files and their sha256, the mapping, the time selection, the
vertical coordinate and its interpolation (with the extrapolated and below-surface counts), the
cell-area weights, and the run's planet parameters where a sidecar table or the file gives them.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError
from ..fsutil import atomic_directory, atomic_write_json
from ..hashing import sha256_file, sha256_json, sha256_tree
from ..units import unit_registry
from ..universe.sampling import PARAMETER_NAMES, PARAMETER_UNITS
from ..universe.store import CLIMATE_STORE, FIELD_UNITS, MANIFEST_FILE
from .gcm import DIM_ORDER

if TYPE_CHECKING:
    import xarray as xr

EXTRA_FIELDS = {"surface_pressure": "Pa"}  # written beside the 8 astrotrain fields


def write_datacube(ds: xr.Dataset, out_dir: str | Path, planet_id: int = 0, source: str | Path | None = None,
                   parameters: dict | None = None) -> Path:
    """Write `ds` (from `open_gcm`) as `out_dir/climate.zarr` (universe layout, one planet) plus `manifest.json`.

    The source files `open_gcm` read (or `source`) are hashed into the manifest; `parameters` ({name: value}
    in astrotrain units, from `read_parameters`) let FiLM and the surrogate see the run's planet. The
    directory is built under a temporary name and appears only once complete.
    """
    out_dir = Path(out_dir)
    unknown = [name for name in ds.data_vars if name not in FIELD_UNITS and name not in EXTRA_FIELDS]
    if unknown:
        raise UserError(f"cannot write datacube {out_dir}: variables {unknown} are not astrotrain fields {list(FIELD_UNITS)}")
    sources = [Path(s) for s in ([source] if source is not None else ds.attrs.get("sources") or [ds.attrs.get("source")]) if s]
    missing = [str(s) for s in sources if not s.exists()]
    if not sources or missing:
        raise UserError(f"cannot write datacube {out_dir}: source {missing or None} not found; pass source=<the GCM file read>")
    mapping = json.loads(ds.attrs["gcm_mapping"]) if "gcm_mapping" in ds.attrs else None

    cube = ds.expand_dims(planet=np.array([planet_id], dtype=np.int64))
    cube = cube.transpose("planet", *[d for d in DIM_ORDER if d in cube.dims])
    cube = cube.chunk({dim: 1 if dim in ("planet", "time") else -1 for dim in cube.dims})  # one chunk per planet and step
    for name in list(cube.data_vars):
        cube[name] = cube[name].astype(np.float32).assign_attrs(units=FIELD_UNITS.get(name) or EXTRA_FIELDS[name])
    level_attrs = dict(cube["level"].attrs) if "level" in cube.coords else {}
    for variable in cube.variables.values():
        variable.encoding = {}
    cube.attrs = {}
    if "level" in cube.coords:
        cube["level"].attrs = level_attrs
    cube["area_weights"] = (("lat", "lon"), cell_area_weights(ds["lat"].values, ds.sizes["lon"], ds.attrs.get("latitude_weights")))

    with atomic_directory(out_dir) as tmp:
        cube.to_zarr(tmp / CLIMATE_STORE, zarr_format=3, consolidated=False, mode="w")  # the interpolation runs here
        vertical = dict(ds.attrs.get("vertical") or {})
        counts = ds.attrs.get("interpolation_counts") or {}
        if vertical.get("target"):
            cells = int(np.prod([n for d, n in cube.sizes.items() if d != "planet"])) * max(1, len(counts))
            vertical["extrapolated_cells"] = int(sum(e for c in counts.values() for e, _ in c))
            vertical["below_surface_cells"] = int(sum(b for c in counts.values() for _, b in c))
            vertical["cells"] = cells
        manifest = {
            "kind": "astrotrain.gcm_datacube",
            "source": str(sources[0].resolve()) if len(sources) == 1 else [str(s.resolve()) for s in sources],
            "source_sha256": _hash_sources(sources, sha256_file, sha256_tree),
            "model": ds.attrs.get("gcm_model"),
            "mapping": mapping,
            "planet_id": int(planet_id),
            "time": ds.attrs.get("time") or {},
            "vertical": vertical,
            "parameters": parameters,
            "area_weights": "the file's latitude weights" if ds.attrs.get("latitude_weights") is not None else "cell areas from the latitudes",
            "variables": {name: {"units": FIELD_UNITS.get(name) or EXTRA_FIELDS[name], "dims": list(cube[name].dims)} for name in ds.data_vars},
            "dims": {str(dim): int(size) for dim, size in cube.sizes.items()},
            "files": {CLIMATE_STORE: sha256_tree(tmp / CLIMATE_STORE)},
        }
        manifest["sha256"] = sha256_json(manifest["files"])
        atomic_write_json(tmp / MANIFEST_FILE, manifest)
    return out_dir


def _hash_sources(sources: list[Path], sha256_file, sha256_tree):
    hashes = [sha256_tree(s) if s.is_dir() else sha256_file(s) for s in sources]
    return hashes[0] if len(hashes) == 1 else hashes


def cell_area_weights(lat_deg: np.ndarray, n_lon: int, latitude_weights=None) -> np.ndarray:
    """(lat, lon) weights summing to 1: the file's own latitude weights (CAM's gw) where given, else the
    area of each cell between the midpoints of its neighbours (a pole point gets its half cell)."""
    lat = np.asarray(lat_deg, dtype=np.float64)
    if latitude_weights is not None:
        w = np.asarray(latitude_weights, dtype=np.float64).reshape(-1)
    else:
        order = np.argsort(lat)
        sorted_lat = lat[order]
        edges = np.concatenate([[-90.0], 0.5 * (sorted_lat[1:] + sorted_lat[:-1]), [90.0]])
        area = np.diff(np.sin(np.deg2rad(edges)))
        w = np.empty_like(area)
        w[order] = area
    w = np.repeat(w[:, None], n_lon, axis=1)
    return (w / w.sum()).astype(np.float64)


def read_parameters(path: str | Path, run_id: str) -> dict[str, float]:
    """The planet parameters of run `run_id` from a sidecar CSV: a `run` column and one column per
    parameter, named `name` (astrotrain units) or `name [unit]` (converted with pint, e.g. `P0 [hPa]`,
    `F_star [S_earth]`, `radius [km]`). Every parameter is required; units and values are checked."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise UserError(f"--parameters {path}: no such file; give a CSV with a `run` column and one column per parameter")
    table = pd.read_csv(path, comment="#")
    if "run" not in table.columns:
        raise UserError(f"--parameters {path}: no `run` column (the run ids); columns are {list(table.columns)}")
    columns = {}
    for column in table.columns:
        name, _, unit = column.partition("[")
        columns[name.strip()] = (column, unit.rstrip("] ").strip() or None)
    missing = [n for n in PARAMETER_NAMES if n not in columns]
    if missing:
        raise UserError(f"--parameters {path}: columns for {missing} are missing (needed: {list(PARAMETER_NAMES)}, as `name` or `name [unit]`)")
    rows = table[table["run"].astype(str) == str(run_id)]
    if len(rows) != 1:
        known = ", ".join(map(str, table["run"].tolist()[:10]))
        raise UserError(f"--parameters {path}: {len(rows)} rows for run {run_id!r} (need exactly one; runs: {known}); set --run-id")
    out, registry = {}, unit_registry()
    for name in PARAMETER_NAMES:
        column, unit = columns[name]
        value = pd.to_numeric(rows[column], errors="coerce").iloc[0]
        if not np.isfinite(value):
            raise UserError(f"--parameters {path}: {column} of run {run_id!r} is not a number ({rows[column].iloc[0]!r})")
        if unit:
            try:
                value = registry.Quantity(float(value), unit).to(PARAMETER_UNITS[name]).magnitude
            except Exception as exc:  # pint's errors: unknown or incompatible units
                raise UserError(f"--parameters {path}: column {column!r}: cannot convert {unit!r} to {PARAMETER_UNITS[name]!r} ({exc})") from None
        out[name] = float(value)
    return out


RANGE_CHECKS = {  # field → (check name, bad-value mask, what is allowed)
    "surface_temperature": ("range", lambda x: (x <= 50) | (x >= 1000), "50 K < T < 1000 K"),
    "temperature": ("range", lambda x: (x <= 50) | (x >= 1000), "50 K < T < 1000 K"),
    "specific_humidity": ("negative", lambda x: x < 0, "specific_humidity >= 0"),
    "cloud_fraction": ("range", lambda x: (x < 0) | (x > 1), "0 <= cloud_fraction <= 1"),
    "asr": ("negative", lambda x: x < 0, "asr >= 0 W m-2"),
    "olr": ("negative", lambda x: x < 0, "olr >= 0 W m-2"),
}


def check_values(ds: xr.Dataset) -> list[dict]:
    """NaN/inf and physical-range problems, one `{variable, check, count, detail}` record per problem.

    Range checks assume astrotrain units (as `open_gcm` returns). Reductions run in one dask compute.
    """
    import dask

    lazy = {}
    for name, da in ds.data_vars.items():
        lazy[(name, "nan")] = da.isnull().sum()
        lazy[(name, "inf")] = np.isinf(da).sum()
        if name in RANGE_CHECKS:
            bad = RANGE_CHECKS[name][1](da) & np.isfinite(da)  # NaN/inf are counted once, above
            lazy[(name, "range")] = bad.sum()
            lazy[(name, "min")] = da.where(bad).min()
            lazy[(name, "max")] = da.where(bad).max()
    with warnings.catch_warnings():  # the span of offending values of a clean field is the min of nothing: NaN, not a problem
        warnings.filterwarnings("ignore", message="All-NaN slice encountered", category=RuntimeWarning)
        counts = dict(zip(lazy, (value.item() for value in dask.compute(*lazy.values()))))
    problems = []
    for name in ds.data_vars:
        nan, inf = int(counts[(name, "nan")]), int(counts[(name, "inf")])
        if nan or inf:
            problems.append({"variable": name, "check": "non_finite", "count": nan + inf, "detail": f"{nan} NaN, {inf} inf"})
        if name in RANGE_CHECKS and counts[(name, "range")]:
            check, _, allowed = RANGE_CHECKS[name]
            low, high = counts[(name, "min")], counts[(name, "max")]
            detail = f"expected {allowed}; offending values span {low:g} .. {high:g} {FIELD_UNITS[name]}"
            problems.append({"variable": name, "check": check, "count": int(counts[(name, "range")]), "detail": detail})
    return problems
