"""Generating the universe: sample parameters, run CLERO, derive labels, draw each planet's
biosphere and gas inventory, integrate its carbonate-silicate evolution, store with a manifest.

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
from ..timing import one_off
from .biosphere import SCENARIOS, draw_atmospheres
from .evolution import O2_MODES, OUTPUT_UNITS, TIME_GRID_GYR, anchor_present_co2, draw_drivers
from .labels import area_weights, climate_states, habitable_fraction
from .sampling import PARAMETER_NAMES, PARAMETER_UNITS, sample_parameters
from .store import (
    ATMOSPHERE_FILE,
    CLIMATE_STORE,
    EVOLUTION_STORE,
    FIELD_UNITS,
    LEVEL_FIELDS,
    MANIFEST_FILE,
    N_LEVELS,
    PARAMETERS_FILE,
    SURFACE_FIELDS,
    Universe,
    open_universe,
)
from .terminator import terminator_state

FORMAT_VERSION = 5  # the layout and meaning of the stored data; history in CHANGELOG.md
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
        "evolution_solver": {"method": cfg.evolution_method, "rtol": cfg.evolution_rtol, "max_evaluations": cfg.evolution_max_evaluations},
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
    with one_off("universe generation"):
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
    terminator = {}

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
            hab[start:stop] = habitable_fraction(out["surface_temperature"], batch["P0"])
            global_ts[start:stop] = np.einsum("pij,ij->p", out["surface_temperature"], _weights(n_lat, n_lon))
            for name in SURFACE_FIELDS:
                arrays[name][start:stop] = out[name].astype(np.float32)
            for name in LEVEL_FIELDS:
                stack = np.stack([out[f"{name}_{k}"] for k in range(N_LEVELS)], axis=1)
                arrays[name][start:stop] = stack.astype(np.float32)
            for key, value in _terminator(out, batch).items():
                terminator.setdefault(key, []).append(value)

        from clero.climate_analysis import CLIMATE_STATES

        table = pd.DataFrame({"planet": np.arange(n, dtype=np.int64), **params})
        table["climate_state"] = states
        table["climate_state_name"] = [CLIMATE_STATES[s] for s in states]
        table["habitable_fraction"] = hab
        table["global_mean_surface_temperature"] = global_ts
        table.to_parquet(tmp / PARAMETERS_FILE, index=False, compression="zstd")
        terminator = {key: np.concatenate(parts) for key, parts in terminator.items()}
        atmosphere = draw_atmospheres(params, hab, table["climate_state_name"].to_numpy(), terminator["specific_humidity"], cfg.seed)
        cube_state = {k: v for k, v in terminator.items() if k != "specific_humidity"}  # as x_H2O in the inventory
        atmosphere_table = pd.DataFrame({"planet": np.arange(n, dtype=np.int64), **atmosphere, **cube_state})
        atmosphere_table.to_parquet(tmp / ATMOSPHERE_FILE, index=False, compression="zstd")
        failures, anchor = _write_evolution(tmp / EVOLUTION_STORE, params, atmosphere, cfg, progress)

        manifest = {
            **_recipe(cfg),
            "kind": "astrotrain.universe",
            "clero_weights_sha256": emulator.bundle_sha256,
            "parameters": {name: PARAMETER_UNITS[name] for name in PARAMETER_NAMES},
            "fields": FIELD_UNITS,
            "climate_state_counts": {CLIMATE_STATES[k]: int((states == k).sum()) for k in range(len(CLIMATE_STATES))},
            "scenario_counts": {name: int((atmosphere["scenario"] == name).sum()) for name in SCENARIOS},
            "evolution_failures": {"count": len(failures), "planets": failures},
            "evolution_present_co2_anchor": anchor,
            "files": {
                PARAMETERS_FILE: sha256_file(tmp / PARAMETERS_FILE),
                CLIMATE_STORE: sha256_tree(tmp / CLIMATE_STORE),
                ATMOSPHERE_FILE: sha256_file(tmp / ATMOSPHERE_FILE),
                EVOLUTION_STORE: sha256_tree(tmp / EVOLUTION_STORE),
            },
        }
        manifest["sha256"] = sha256_json(manifest["files"])
        atomic_write_json(tmp / MANIFEST_FILE, manifest)
    return open_universe(path)


def _terminator(out: dict[str, np.ndarray], batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from clero.climate_analysis import latitude_centers, longitude_centers, pressure_levels

    n_lat, n_lon = out["surface_temperature"].shape[-2:]
    fields = [np.stack([out[f"{name}_{k}"] for k in range(N_LEVELS)], axis=1) for name in ("temperature", "specific_humidity", "cloud_fraction")]
    levels = np.stack([pressure_levels(float(p)) for p in batch["P0"]])
    return terminator_state(*fields, levels, np.asarray(batch["P0"]) * 1e5, latitude_centers(n_lat), longitude_centers(n_lon))


def _write_evolution(path: Path, params: dict[str, np.ndarray], atmosphere: dict[str, np.ndarray], cfg, progress: bool) -> tuple[list[dict], dict]:
    """Integrate every planet's box model, anchored to its present-day pCO2 = CO2 × P0; failures are
    recorded (and NaN), never raised. Returns (failures, the anchoring record)."""
    import zarr

    o2_mode = np.where(atmosphere["scenario"] == "inhabited_oxygenic", O2_MODES["biotic"], np.where(atmosphere["x_O2"] > 0, O2_MODES["abiotic"], O2_MODES["none"]))
    drivers = draw_drivers(params["F_star"], atmosphere["x_O2"] * params["P0"], o2_mode, cfg.seed)
    bar = (lambda it: _progress(it, True, f"evolution: {len(params['F_star'])} planets in {len(it)} chunks")) if progress else None
    solver = {"method": cfg.evolution_method, "rtol": cfg.evolution_rtol, "max_evaluations": cfg.evolution_max_evaluations}
    present_pco2 = np.asarray(params["CO2"]) * np.asarray(params["P0"])  # bar: the climate CLERO computed
    drivers, trajectories, ok, failures, anchor = anchor_present_co2(drivers, present_pco2, progress=bar, **solver)
    group = zarr.open_group(path, mode="w", zarr_format=3)
    for name, values in {**trajectories, **drivers, "ok": ok, "time": TIME_GRID_GYR}.items():
        dims = ("planet", "time") if values.ndim == 2 else ("time",) if name == "time" else ("planet",)
        array = group.create_array(name, shape=values.shape, dtype=values.dtype, dimension_names=dims, fill_value=None)
        array[...] = values
        if name in OUTPUT_UNITS or name == "time":
            array.attrs["units"] = OUTPUT_UNITS.get(name, "Gyr")
    return failures, anchor


def _weights(n_lat: int, n_lon: int) -> np.ndarray:
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
