"""Datacubes written by `astrotrain data ingest`: opening one, and stacking several runs along `planet`.

Each cube is one GCM run (`gcm_write.write_datacube`): the fields on the ingest's common levels, with
`level` bottom up — σ levels (their pressure is σ × the column's surface pressure, stored as
`surface_pressure`) or pressure levels in Pa — its cell-area weights and, in the manifest, the run's
planet parameters where the ingest was given them. Runs stacked together must share grid, level set
and number of time steps; `lazy=True` keeps the arrays as dask (read chunk by chunk when training streams).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..units import unit_registry
from ..universe.store import CLIMATE_STORE, MANIFEST_FILE

KIND = "astrotrain.gcm_datacube"


@dataclass
class StackedCubes:
    data: object  # xarray.Dataset (planet, [time,] [level,] lat, lon)
    level_kind: str  # "sigma" | "pressure"
    pressure: np.ndarray  # (planet, level): Pa, or σ for σ levels
    area_weights: np.ndarray  # (lat, lon), summing to 1
    parameters: list[dict | None]  # each run's planet parameters (astrotrain units), None where not given
    records: list[dict]  # provenance: path, manifest and source hashes
    paths: list[str]


def open_cube(path: Path, fields: tuple[str, ...], level_pressure_units: str, lazy: bool = False):
    """One ingested datacube as an xarray Dataset with levels bottom-up and `level_pressure_pa`, `level_kind` in attrs."""
    import xarray as xr

    manifest_path = path / MANIFEST_FILE
    kind = json.loads(manifest_path.read_text()).get("kind") if manifest_path.is_file() else None
    if kind != KIND or not (path / CLIMATE_STORE).is_dir():
        raise UserError(f"{path} is not an ingested datacube (no {MANIFEST_FILE} of kind {KIND}); "
                        f"create it with `astrotrain data ingest FILE --mapping M --out {path}`")
    cube = xr.open_zarr(path / CLIMATE_STORE, consolidated=False)
    cube = cube if lazy else cube.load()
    missing = [f for f in fields if f not in cube.data_vars]
    if missing:
        raise UserError(f"ingested datacube {path} lacks {missing} (it has {sorted(cube.data_vars)}); map them in the "
                        "GCM mapping and ingest again, or leave them out of the component's fields")
    if "level" not in cube.dims:
        cube.attrs = {"level_pressure_pa": np.zeros(0), "level_kind": "none"}
        return cube
    if cube["level"].attrs.get("level_kind") == "sigma":
        levels = cube["level"].values.astype(np.float64)
        order = np.argsort(-levels)  # bottom (σ = 1) first
        cube = cube.isel(level=order)
        cube.attrs = {"level_pressure_pa": levels[order], "level_kind": "sigma"}
        return cube
    registry = unit_registry()
    units = cube["level"].attrs.get("units")
    if not units or not _is_pressure(registry, units):
        units = level_pressure_units  # cubes ingested before the levels carried their kind
    pressure = registry.Quantity(cube["level"].values.astype(np.float64), units).to("Pa").magnitude
    if np.any(pressure <= 0) or len(np.unique(pressure)) != len(pressure):
        raise UserError(f"ingested datacube {path}: level coordinate {cube['level'].values.tolist()} ({units}) is not a set of "
                        "distinct positive pressures; set components.datacube.level_pressure_units or fix the file's level units")
    order = np.argsort(-pressure)  # bottom (highest pressure) first
    cube = cube.isel(level=order)
    cube.attrs = {"level_pressure_pa": pressure[order], "level_kind": "pressure"}
    return cube


def stack_cubes(paths: list[str], fields: tuple[str, ...], level_pressure_units: str = "hPa", lazy: bool = False) -> StackedCubes:
    """Ingested runs stacked along `planet`; they must share grid, levels and time steps."""
    import xarray as xr

    cubes = [open_cube(Path(p), fields, level_pressure_units, lazy) for p in paths]
    first = cubes[0]
    for path, cube in zip(paths[1:], cubes[1:]):
        for dim in ("time", "level", "lat", "lon"):
            if first.sizes.get(dim) != cube.sizes.get(dim):
                raise UserError(f"ingested datacube {path} has {dim}={cube.sizes.get(dim)} but {paths[0]} has {first.sizes.get(dim)}; "
                                "the datacubes must share one grid, level set and number of time steps (ingest them with the same --levels)")
        for coord in ("lat", "lon"):
            if not np.allclose(first[coord].values, cube[coord].values):
                raise UserError(f"ingested datacube {path} has other {coord} values than {paths[0]}; the datacubes must share one grid (regrid them)")
    kinds = {c.attrs["level_kind"] for c in cubes}
    if len(kinds) > 1:
        raise UserError(f"the datacubes mix level kinds ({sorted(kinds)}); ingest them onto one kind (--levels)")
    # levels may differ in pressure (each cube keeps its own) and time stamps in date: index by position
    stacked = xr.concat(cubes, dim="planet", data_vars="all", join="override", coords="minimal", compat="override")
    if "area_weights" in stacked:
        stored = stacked["area_weights"]
        weights = (stored.isel(planet=0) if "planet" in stored.dims else stored).values.astype(np.float64)
    else:  # cubes ingested before the weights were stored
        weights = np.repeat(np.cos(np.deg2rad(stacked["lat"].values))[:, None], stacked.sizes["lon"], axis=1)
    kind = kinds.pop()
    if kind == "sigma" and "surface_pressure" not in stacked:
        raise UserError(f"ingested datacubes {paths} are on σ levels but carry no surface_pressure; ingest them again")
    manifests = [json.loads((Path(p) / MANIFEST_FILE).read_text()) for p in paths]
    return StackedCubes(stacked, kind, np.stack([c.attrs["level_pressure_pa"] for c in cubes]), weights / weights.sum(),
                        [m.get("parameters") for m in manifests], [_record(Path(p), m) for p, m in zip(paths, manifests)], list(paths))


def _record(path: Path, manifest: dict) -> dict:
    return {"path": str(path.resolve()), "sha256": manifest["sha256"], "model": manifest.get("model"),
            "source": manifest["source"], "source_sha256": manifest["source_sha256"], "parameters": manifest.get("parameters")}


def _is_pressure(registry, units: str) -> bool:
    try:
        return registry.Unit(units).dimensionality == registry.Unit("Pa").dimensionality
    except Exception:
        return False
