"""Where datacubes come from: the CLERO universe, or GCM output ingested by `astrotrain data ingest`.

Both give a `CubeSource`: input maps `(planet, [time,] lat, lon)`, target fields
`(planet, [time,] level, lat, lon)` with level 0 the lowest (highest pressure), the level
pressures in Pa, conditioning features and the grid's cell-area weights.

Ingested cubes carry no planet parameters, so their conditioning features are zero and FiLM is
the identity: the network conditions on the maps alone. Their level pressures come from the
cube's `level` coordinate (its `units` attribute when that is a pressure, else
`level_pressure_units` of the config — CAM's `lev` and ROCKE-3D's `plm` are in hPa); levels are
reordered bottom-up. Area weights are cos(latitude), normalised. The dry-air constants ε and κ
of the humidity and stability physics are each universe planet's own (its stored composition);
ingested cubes, which carry no composition, get Earth air's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...data.features import PARAMETER_NAMES, parameter_features
from ...errors import UserError
from ...universe.labels import area_weights
from ...universe.store import CLIMATE_STORE, MANIFEST_FILE, Universe
from ...universe.thermo import EARTH_AIR, dry_constants


@dataclass
class CubeSource:
    inputs: dict[str, np.ndarray]  # field → (planet, [time,] lat, lon)
    targets: dict[str, np.ndarray]  # field → (planet, [time,] level, lat, lon), level 0 lowest
    features: np.ndarray  # (planet, n_features) conditioning
    pressure: np.ndarray  # (planet, level) in Pa
    epsilon: np.ndarray  # (planet,) M_H2O / μ_dry
    kappa: np.ndarray  # (planet,) R / c_p of the dry gas
    area_weights: np.ndarray  # (lat, lon), summing to 1
    latitude: np.ndarray  # (lat,) cell centres in degrees north
    description: str
    records: list[dict] | None = None  # provenance of ingested cubes (path, manifest and source hashes)


def universe_source(universe: Universe, cfg) -> CubeSource:
    """The first `cfg.max_planets` planets of a CLERO universe (levels from `pressure_levels(P0)`)."""
    from clero.climate_analysis import latitude_centers, pressure_levels

    n = len(universe) if cfg.max_planets == 0 else min(cfg.max_planets, len(universe))
    table = universe.parameters.iloc[:n]
    return CubeSource(
        inputs={f: universe.field(f, slice(0, n)) for f in cfg.input_fields},
        targets={f: universe.field(f, slice(0, n)) for f in cfg.target_fields},
        features=parameter_features(table),
        pressure=np.stack([pressure_levels(float(p)) for p in table["P0"]]).astype(np.float64),
        epsilon=universe.atmosphere["epsilon"].to_numpy()[:n],
        kappa=universe.atmosphere["kappa"].to_numpy()[:n],
        area_weights=area_weights(),
        latitude=latitude_centers(32),
        description=f"CLERO universe {universe.path} (first {n} planets)",
    )


def ingested_source(paths: list[str], cfg) -> CubeSource:
    """Ingested datacube folders stacked along `planet`; they must share grid, levels and time steps."""
    import xarray as xr

    cubes = [_open_ingested(Path(p), cfg) for p in paths]
    first = cubes[0]
    for path, cube in zip(paths[1:], cubes[1:]):
        for dim in ("time", "level", "lat", "lon"):
            if first.sizes.get(dim) != cube.sizes.get(dim):
                raise UserError(
                    f"ingested datacube {path} has {dim}={cube.sizes.get(dim)} but {paths[0]} has {first.sizes.get(dim)}; "
                    f"components.datacube.datacubes must share one grid, level set and number of time steps (regrid them)"
                )
        for coord in ("lat", "lon"):
            if not np.allclose(first[coord].values, cube[coord].values):
                raise UserError(f"ingested datacube {path} has other {coord} values than {paths[0]}; "
                                f"components.datacube.datacubes must share one grid (regrid them)")
    # levels may differ in pressure (each cube keeps its own) and time stamps in date: index by position
    stacked = xr.concat(cubes, dim="planet", join="override", coords="minimal", compat="override")
    pressure = np.stack([c.attrs["level_pressure_pa"] for c in cubes])
    lat = np.deg2rad(stacked["lat"].values.astype(np.float64))
    weights = np.repeat(np.cos(lat)[:, None], stacked.sizes["lon"], axis=1)
    return CubeSource(
        inputs={f: stacked[f].values for f in cfg.input_fields},
        targets={f: stacked[f].values for f in cfg.target_fields},
        features=np.zeros((stacked.sizes["planet"], len(PARAMETER_NAMES)), dtype=np.float32),
        pressure=pressure,
        **_earth_air(len(cubes)),
        area_weights=weights / weights.sum(),
        latitude=stacked["lat"].values.astype(np.float64),
        description=f"{len(paths)} ingested datacube(s): {', '.join(paths)}",
        records=[_record(Path(p)) for p in paths],
    )


def _earth_air(n: int) -> dict[str, np.ndarray]:
    air = dry_constants(EARTH_AIR)
    return {"epsilon": np.full(n, float(air["epsilon"])), "kappa": np.full(n, float(air["kappa"]))}


def _record(path: Path) -> dict:
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    return {"path": str(path.resolve()), "sha256": manifest["sha256"], "model": manifest.get("model"),
            "source": manifest["source"], "source_sha256": manifest["source_sha256"]}


def _open_ingested(path: Path, cfg):
    """One ingested datacube as an xarray Dataset with levels bottom-up and `level_pressure_pa` in attrs."""
    import xarray as xr

    from ...data.gcm import unit_registry

    manifest_path = path / MANIFEST_FILE
    kind = json.loads(manifest_path.read_text()).get("kind") if manifest_path.is_file() else None
    if kind != "astrotrain.gcm_datacube" or not (path / CLIMATE_STORE).is_dir():
        raise UserError(f"{path} is not an ingested datacube (no {MANIFEST_FILE} of kind astrotrain.gcm_datacube); "
                        f"create it with `astrotrain data ingest FILE --mapping M --out {path}`")
    cube = xr.open_zarr(path / CLIMATE_STORE, consolidated=False).load()
    missing = [f for f in (*cfg.input_fields, *cfg.target_fields) if f not in cube.data_vars]
    if missing:
        raise UserError(f"ingested datacube {path} lacks {missing} (it has {sorted(cube.data_vars)}); map them in the "
                        f"GCM mapping and ingest again, or remove them from components.datacube.input_fields/target_fields")
    registry = unit_registry()
    units = cube["level"].attrs.get("units")
    if not units or not _is_pressure(registry, units):
        units = cfg.level_pressure_units
    pressure = registry.Quantity(cube["level"].values.astype(np.float64), units).to("Pa").magnitude
    if np.any(pressure <= 0) or len(np.unique(pressure)) != len(pressure):
        raise UserError(f"ingested datacube {path}: level coordinate {cube['level'].values.tolist()} ({units}) is not a set of "
                        f"distinct positive pressures; set components.datacube.level_pressure_units or fix the file's level units")
    order = np.argsort(-pressure)  # bottom (highest pressure) first
    cube = cube.isel(level=order)
    cube.attrs = {"level_pressure_pa": pressure[order]}
    return cube


def _is_pressure(registry, units: str) -> bool:
    try:
        return registry.Unit(units).dimensionality == registry.Unit("Pa").dimensionality
    except Exception:
        return False
