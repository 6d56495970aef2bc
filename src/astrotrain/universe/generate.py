"""Generating the climate universe: sample parameters, run CLERO, derive labels, store with a manifest.

Deterministic: the same config gives the same bytes (PCG64 sampling, CLERO's deterministic
point prediction, zarr/parquet writers without timestamps). A universe is cached under a
key made of everything that determines it, and written under a temporary name that is
renamed into place only when complete.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..fsutil import atomic_directory, atomic_write_json
from ..hashing import sha256_file, sha256_json, sha256_tree
from .labels import climate_states, habitable_fraction
from .sampling import PARAMETER_NAMES, PARAMETER_UNITS, sample_parameters
from .store import (
    CLIMATE_STORE,
    FIELD_UNITS,
    LEVEL_FIELDS,
    MANIFEST_FILE,
    N_LEVELS,
    PARAMETERS_FILE,
    SURFACE_FIELDS,
    Universe,
    open_universe,
)

FORMAT_VERSION = 1
PLANET_CHUNK = 64


def _recipe(cfg) -> dict:
    """Everything that determines a universe's bytes."""
    import clero

    return {
        "format_version": FORMAT_VERSION,
        "n_planets": cfg.n_planets,
        "seed": cfg.seed,
        "co2_range": list(cfg.co2_range),
        "ch4_range": list(cfg.ch4_range),
        "clero_version": clero.__version__,
    }


def universe_path(cfg) -> Path:
    """Cache directory of the universe described by `cfg` (a `UniverseConfig`)."""
    recipe = _recipe(cfg)
    return Path(cfg.cache_dir) / f"universe-n{cfg.n_planets}-s{cfg.seed}-{sha256_json(recipe)[:10]}"


def ensure_universe(cfg, progress: bool = True) -> Universe:
    """Return the cached universe for `cfg`, generating it first if needed."""
    path = universe_path(cfg)
    if (path / MANIFEST_FILE).exists():
        return open_universe(path)
    return generate_universe(cfg, path, progress=progress)


def generate_universe(cfg, path: Path, progress: bool = True) -> Universe:
    import clero
    import pandas as pd
    import zarr

    emulator = clero.Emulator()
    params = sample_parameters(cfg.n_planets, cfg.seed, tuple(cfg.co2_range), tuple(cfg.ch4_range))
    n = cfg.n_planets
    n_lat, n_lon = emulator.grid_shape
    states = np.zeros(n, dtype=np.int64)
    hab = np.zeros(n, dtype=np.float64)
    global_ts = np.zeros(n, dtype=np.float64)

    with atomic_directory(path) as tmp:
        group = zarr.open_group(tmp / CLIMATE_STORE, mode="w", zarr_format=3)
        arrays = {}
        for name in SURFACE_FIELDS + LEVEL_FIELDS:
            levels = name in LEVEL_FIELDS
            shape = (n, N_LEVELS, n_lat, n_lon) if levels else (n, n_lat, n_lon)
            dims = ("planet", "level", "lat", "lon") if levels else ("planet", "lat", "lon")
            arrays[name] = group.create_array(
                name, shape=shape, chunks=(PLANET_CHUNK,) + shape[1:], dtype="float32", dimension_names=dims, fill_value=np.nan
            )
            arrays[name].attrs["units"] = FIELD_UNITS[name]
        _write_coordinates(group, n, n_lat, n_lon)

        batches = range(0, n, cfg.clero_batch_size)
        for start in _progress(batches, progress, f"CLERO: {n} planets"):
            stop = min(start + cfg.clero_batch_size, n)
            batch = {k: v[start:stop] for k, v in params.items()}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # sampled inside the core domain by construction
                out = emulator.predict(batch)
            states[start:stop] = climate_states(out, batch)
            hab[start:stop] = habitable_fraction(out["surface_temperature"])
            global_ts[start:stop] = np.einsum("pij,ij->p", out["surface_temperature"], _weights(n_lat, n_lon))
            for name in SURFACE_FIELDS:
                arrays[name][start:stop] = out[name].astype(np.float32)
            for name in LEVEL_FIELDS:
                stack = np.stack([out[f"{name}_{k}"] for k in range(N_LEVELS)], axis=1)
                arrays[name][start:stop] = stack.astype(np.float32)

        from clero.climate_analysis import CLIMATE_STATES

        table = pd.DataFrame({"planet": np.arange(n, dtype=np.int64), **params})
        table["climate_state"] = states
        table["climate_state_name"] = [CLIMATE_STATES[s] for s in states]
        table["habitable_fraction"] = hab
        table["global_mean_surface_temperature"] = global_ts
        table.to_parquet(tmp / PARAMETERS_FILE, index=False, compression="zstd")

        manifest = {
            **_recipe(cfg),
            "kind": "astrotrain.universe",
            "clero_weights_sha256": emulator.bundle_sha256,
            "parameters": {name: PARAMETER_UNITS[name] for name in PARAMETER_NAMES},
            "fields": FIELD_UNITS,
            "climate_state_counts": {CLIMATE_STATES[k]: int((states == k).sum()) for k in range(len(CLIMATE_STATES))},
            "files": {PARAMETERS_FILE: sha256_file(tmp / PARAMETERS_FILE), CLIMATE_STORE: sha256_tree(tmp / CLIMATE_STORE)},
        }
        manifest["sha256"] = sha256_json(manifest["files"])
        atomic_write_json(tmp / MANIFEST_FILE, manifest)
    return open_universe(path)


def _weights(n_lat: int, n_lon: int) -> np.ndarray:
    from .labels import area_weights

    return area_weights(n_lat, n_lon)


def _write_coordinates(group, n: int, n_lat: int, n_lon: int) -> None:
    from clero.climate_analysis import latitude_centers, longitude_centers

    coords = {
        "planet": np.arange(n, dtype=np.int64),
        "level": np.arange(N_LEVELS, dtype=np.int64),
        "lat": latitude_centers(n_lat),
        "lon": longitude_centers(n_lon),
    }
    for name, values in coords.items():
        arr = group.create_array(name, shape=values.shape, dtype=values.dtype, dimension_names=(name,))
        arr[...] = values
        if name in ("lat", "lon"):
            arr.attrs["units"] = "degrees_north" if name == "lat" else "degrees_east"


def _progress(iterable, enabled: bool, description: str):
    if not enabled:
        return iterable
    from rich.progress import track

    return track(iterable, description=description, transient=True)
