"""Data for the datacube U-Net: 2D maps + parameters → 3D fields on the model levels, split by planet.

Normalisation (fitted on the training split only, in one pass over it chunk by chunk: the split is
never held whole): each input map is standardised by its training mean and standard deviation. The
per-pixel training-mean cube is both the "training mean" baseline and what the network's output is
added to; each (field, level) of that output is scaled by the standard deviation of the training
anomaly (target − mean cube), so every field's departure from its climatology weighs the same in the
loss (v's anomaly is 2–3× smaller than its spatial pattern, and would otherwise hardly be learned).

Batches are made by one transform (`CubeBatches`) from the rows of the fields — read from Zarr, or from
memory when the data fit (`data.in_memory`, `data/streaming.py`): the two give identical batches.
"""

from __future__ import annotations

import numpy as np
import torch

from ...data.splits import planet_splits, treatment_record
from ...data.streaming import LazyPlanets, MemoryRows, RunningMoments, cache_chunks, chunks_of, fits_in_memory, how_read
from ...data.tensors import SplitDataModule
from ...errors import UserError
from ...universe.store import Universe
from .sources import ingested_source, universe_source


def validate_cube(inputs: dict[str, np.ndarray], targets: dict[str, np.ndarray]) -> None:
    """Inputs `(planet, [time,] lat, lon)`, targets `(planet, [time,] level, lat, lon)` on one grid, all finite."""
    grids = set()
    for kind, fields, rank in (("input", inputs, 3), ("target", targets, 4)):
        for name, array in fields.items():
            if array.ndim not in (rank, rank + 1):
                raise UserError(f"{kind} {name}: expected rank {rank} (planet, {'level, ' if rank == 4 else ''}lat, lon) "
                                f"or {rank + 1} with time, found shape {array.shape}")
            grids.add((array.shape[0], *array.shape[-2:]))
            bad = int((~np.isfinite(array)).sum())
            if bad:
                raise UserError(f"{kind} {name}: {bad} non-finite values (NaN/inf); repair or mask them first (astrotrain data report)")
    if len(grids) > 1:
        raise UserError(f"inputs and targets are on different grids (planets, lat, lon): {sorted(grids)}; regrid them to one")


class CubeBatches:
    """Raw rows of the cube's fields → a training batch (normalised maps and parameters, physical targets)."""

    def __init__(self, cfg, levels: np.ndarray, stats: dict, every_level: bool):
        self.inputs, self.targets, self.levels, self.stats, self.every_level = list(cfg.input_fields), list(cfg.target_fields), levels, stats, every_level

    def __call__(self, raw: dict) -> dict[str, torch.Tensor]:
        s = self.stats
        x = np.stack([raw[f"in:{f}"] for f in self.inputs], axis=1)  # [B, C_in, (T,) H, W]
        y = np.stack([raw[f"out:{f}"] if self.every_level else np.take(raw[f"out:{f}"], self.levels, axis=-3) for f in self.targets], axis=1)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        batch = {
            "maps": torch.from_numpy(((x - s["input_mean"].reshape(shape)) / s["input_std"].reshape(shape)).astype(np.float32)),
            "params": torch.from_numpy(((raw["features"] - s["param_mean"]) / s["param_std"]).astype(np.float32)),
            "surface_temperature": torch.from_numpy(raw["in:surface_temperature"].astype(np.float32)) if "in:surface_temperature" in raw
            else torch.zeros(len(x)),
            "target": torch.from_numpy(y.astype(np.float32, copy=False)),  # physical units
            "pressure": torch.from_numpy(raw["pressure"][:, self.levels].astype(np.float32)),
            "epsilon": torch.from_numpy(raw["epsilon"].astype(np.float32)),
            "kappa": torch.from_numpy(raw["kappa"].astype(np.float32)),
        }
        if "surface_pressure" in raw:
            batch["surface_pressure"] = torch.from_numpy(raw["surface_pressure"].astype(np.float32))
        return batch


class DatacubeDataModule(SplitDataModule):
    def __init__(self, universe: Universe | None, cfg, split, num_workers: int = 0, seed: int = 0, data_cfg=None):
        super().__init__()
        self.universe, self.cfg, self.split, self.num_workers, self.seed = universe, cfg, split, num_workers, seed
        self.data_cfg = data_cfg
        self.batch_size = cfg.batch_size
        self.levels = np.arange(0)
        self.datasets: dict = {}
        self.stats: dict[str, np.ndarray] = {}
        self.indices: dict[str, np.ndarray] = {}
        self.description, self.records, self.in_memory = "", None, True

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return

        cfg = self.cfg
        source = ingested_source(cfg.datacubes, cfg) if cfg.datacubes else universe_source(self.universe, cfg)
        self.description, self.records = source.description, source.records
        n_levels = next(iter(source.targets.values())).shape[-3]
        self.levels = np.asarray(cfg.levels if cfg.levels is not None else range(n_levels))
        if self.levels.max() >= n_levels:
            raise UserError(f"components.datacube.levels {cfg.levels} asks for level {self.levels.max()}, "
                            f"but the data has {n_levels} levels (0..{n_levels - 1})")
        check_grid(source, cfg)
        n = len(source.features)
        if n < 3:
            raise UserError(f"{source.description}: {n} planet(s), but a planet split (train/val/test) needs at least 3; "
                            f"ingest more GCM runs into components.datacube.datacubes")
        self.indices = planet_splits(n, self.split.train, self.split.val, self.split.seed)
        fields = {**{f"in:{f}": r for f, r in source.inputs.items()}, **{f"out:{f}": r for f, r in source.targets.items()}}
        if source.surface_pressure is not None:
            fields["surface_pressure"] = source.surface_pressure
        d = self.data_cfg
        self.in_memory = d.in_memory if d is not None and d.in_memory is not None else fits_in_memory(fields, d.memory_budget_gb if d else 8.0)
        if self.in_memory:  # read once; the batches are the same as the streamed ones
            fields = {name: MemoryRows(rows.rows(np.arange(n))) for name, rows in fields.items()}
        self.stats = cube_statistics(fields, source, self.indices["train"], cfg, self.levels)
        sources = {**fields, "features": MemoryRows(source.features), "pressure": MemoryRows(source.pressure),
                   "epsilon": MemoryRows(source.epsilon), "kappa": MemoryRows(source.kappa)}
        transform = CubeBatches(cfg, self.levels, self.stats, np.array_equal(self.levels, np.arange(n_levels)))
        self.order = (d.shuffle if d is not None and d.shuffle != "auto" else ("planets" if self.in_memory else "chunks"))
        self.buffer_chunks = d.shuffle_buffer_chunks if d is not None else 4
        cache_chunks(sources, self.buffer_chunks + 1)  # streamed: each chunk of a shuffling buffer decoded once
        self.datasets = {name: LazyPlanets(sources, idx, transform, source.chunk_rows) for name, idx in self.indices.items()}

    def treatment(self) -> dict:
        self.setup()
        record = treatment_record(self.indices, {**{k: v.tolist() for k, v in self.stats.items() if k not in ("mean_cube", "area_weights")},
                                                 "read": how_read(self.in_memory, self.order)})
        return {**record, "sources": self.records} if self.records else record


def check_grid(source, cfg) -> None:
    grid = next(iter(source.inputs.values())).shape[-2:]
    if min(grid) < 2**cfg.depth:
        raise UserError(f"{source.description}: grid lat × lon = {grid[0]} × {grid[1]} is smaller than 2**depth = {2**cfg.depth} cells "
                        f"(components.datacube.depth = {cfg.depth}); lower depth")


SPATIAL_FLOOR = 0.05  # smallest anomaly scale of a (field, level), as a fraction of its spatial standard deviation


def cube_statistics(fields: dict, source, train: np.ndarray, cfg, levels: np.ndarray, chunk: int = 64) -> dict[str, np.ndarray]:
    """Normalisation of the training split in one pass over it, chunk by chunk (non-finite values refused)."""
    inputs, cube = {}, None
    for rows in chunks_of(np.sort(train), chunk):
        raw = {name: rows_source.rows(rows) for name, rows_source in fields.items()}
        x = np.stack([raw[f"in:{f}"] for f in cfg.input_fields], axis=1)
        y = np.stack([np.take(raw[f"out:{f}"], levels, axis=-3) for f in cfg.target_fields], axis=1)
        validate_cube({f: raw[f"in:{f}"] for f in cfg.input_fields}, {f: y[:, i] for i, f in enumerate(cfg.target_fields)})
        timed = x.ndim == 5
        for i, f in enumerate(cfg.input_fields):  # one mean and std per input map, over every sample and cell
            inputs.setdefault(f, RunningMoments(axes=tuple(range(x[:, i].ndim)))).add(x[:, i])
        if cube is None:
            cube = RunningMoments(axes=(0, 2) if timed else (0,))
        cube.add(y)
    mean_cube, per_pixel_std = cube.mean(), cube.std()  # [F, L, H, W]
    target_mean = mean_cube.mean(axis=(-2, -1))
    anomaly_std = np.sqrt((per_pixel_std**2).mean(axis=(-2, -1)))  # the network predicts the anomaly from the mean cube
    # A field (nearly) the same in every training run — prescribed clouds, a zero meridional wind —
    # has no anomaly to scale by; floor its scale at a twentieth of its spatial variability so
    # its loss term neither divides by zero nor outweighs every other field.
    spatial_std = np.sqrt((per_pixel_std**2 + (mean_cube - target_mean[..., None, None]) ** 2).mean(axis=(-2, -1)))
    features = source.features[train]
    return {
        "input_mean": np.array([inputs[f].mean() for f in cfg.input_fields]), "input_std": np.array([inputs[f].std() for f in cfg.input_fields]) + 1e-6,
        "target_mean": target_mean,
        "param_mean": features.mean(axis=0), "param_std": features.std(axis=0) + 1e-6,
        "mean_cube": mean_cube,
        "target_std": np.maximum(anomaly_std, SPATIAL_FLOOR * spatial_std) + 1e-12,
        "area_weights": source.area_weights,
        "latitude": np.asarray(source.latitude, dtype=np.float64),
    }


def build_datamodule(cfg, universe: Universe | None) -> DatacubeDataModule:
    return DatacubeDataModule(universe, cfg.components.datacube, cfg.data.split, cfg.data.num_workers, cfg.run.seed, cfg.data)
