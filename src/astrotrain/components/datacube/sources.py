"""Where datacubes come from: the CLERO universe, or GCM output ingested by `astrotrain data ingest`.

Both give a `CubeSource`: input maps `(planet, [time,] lat, lon)`, target fields
`(planet, [time,] level, lat, lon)` with level 0 the lowest (highest pressure), the level
pressures in Pa, conditioning features and the grid's cell-area weights.

Ingested cubes were interpolated onto common levels at ingest (`data/vertical.py`): σ levels, whose
real pressure is σ × the column's surface pressure (stored with the cube; every sample carries its
map), or pressure levels. Their conditioning features are the run's planet parameters where the
ingest was given them (a sidecar table or the file's attributes), else zero — FiLM then conditions on
the maps alone. Area weights are the file's own (CAM's gw) or the cells' areas, stored at ingest. The
dry-air constants ε and κ of the humidity and stability physics are each universe planet's own (its
stored composition); ingested cubes, which carry no composition, get Earth air's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...data.datacubes import stack_cubes
from ...data.features import PARAMETER_NAMES, parameter_features
from ...data.streaming import dask_rows, zarr_rows
from ...universe.labels import area_weights
from ...universe.store import CLIMATE_STORE, Universe
from ...universe.thermo import EARTH_AIR, dry_constants


@dataclass
class CubeSource:
    inputs: dict[str, object]  # field → row source (data/streaming.py) of (planet, [time,] lat, lon)
    targets: dict[str, object]  # field → row source of (planet, [time,] level, lat, lon), level 0 lowest
    features: np.ndarray  # (planet, n_features) conditioning
    pressure: np.ndarray  # (planet, level) in Pa; for σ levels the σ values (× surface_pressure per column)
    epsilon: np.ndarray  # (planet,) M_H2O / μ_dry
    kappa: np.ndarray  # (planet,) R / c_p of the dry gas
    area_weights: np.ndarray  # (lat, lon), summing to 1
    latitude: np.ndarray  # (lat,) cell centres in degrees north
    description: str
    records: list[dict] | None = None  # provenance of ingested cubes (path, manifest and source hashes)
    surface_pressure: object | None = None  # row source of (planet, [time,] lat, lon) in Pa, for σ levels
    chunk_rows: int = 1  # planets per storage chunk (what chunk-aware shuffling groups by)


def universe_source(universe: Universe, cfg) -> CubeSource:
    """The first `cfg.max_planets` planets of a CLERO universe (levels from `pressure_levels(P0)`), read lazily from its Zarr store."""
    from clero.climate_analysis import latitude_centers, pressure_levels

    n = len(universe) if cfg.max_planets == 0 else min(cfg.max_planets, len(universe))
    table = universe.parameters.iloc[:n]
    store = universe.path / CLIMATE_STORE
    fields = {f: zarr_rows(store, f, n) for f in (*cfg.input_fields, *cfg.target_fields)}
    return CubeSource(
        inputs={f: fields[f] for f in cfg.input_fields},
        targets={f: fields[f] for f in cfg.target_fields},
        features=parameter_features(table),
        pressure=np.stack([pressure_levels(float(p)) for p in table["P0"]]).astype(np.float64),
        epsilon=universe.atmosphere["epsilon"].to_numpy()[:n],
        kappa=universe.atmosphere["kappa"].to_numpy()[:n],
        area_weights=area_weights(),
        latitude=latitude_centers(32),
        description=f"CLERO universe {universe.path} (first {n} planets)",
        chunk_rows=fields[cfg.input_fields[0]].chunk_rows,
    )


def ingested_source(paths: list[str], cfg) -> CubeSource:
    """Ingested runs (`data/datacubes.py`) as a CubeSource read lazily (dask): their parameters as features where given, else zeros."""
    cubes = stack_cubes(paths, (*cfg.input_fields, *cfg.target_fields), cfg.level_pressure_units, lazy=True)
    stacked = cubes.data
    features = np.stack([parameter_features(pd.DataFrame([q]))[0] if q else np.zeros(len(PARAMETER_NAMES), np.float32) for q in cubes.parameters])
    return CubeSource(
        inputs={f: dask_rows(stacked[f].data) for f in cfg.input_fields},
        targets={f: dask_rows(stacked[f].data) for f in cfg.target_fields},
        features=features.astype(np.float32),
        pressure=cubes.pressure,
        **_earth_air(len(paths)),
        area_weights=cubes.area_weights,
        latitude=stacked["lat"].values.astype(np.float64),
        description=f"{len(paths)} ingested datacube(s): {', '.join(paths)}",
        records=cubes.records,
        surface_pressure=dask_rows(stacked["surface_pressure"].data) if cubes.level_kind == "sigma" else None,
        chunk_rows=1,  # one run per store
    )


def _earth_air(n: int) -> dict[str, np.ndarray]:
    air = dry_constants(EARTH_AIR)
    return {"epsilon": np.full(n, float(air["epsilon"])), "kappa": np.full(n, float(air["kappa"]))}
