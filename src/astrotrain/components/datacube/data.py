"""Data for the datacube U-Net: 2D maps + parameters → 3D fields on the model levels, split by planet.

Normalisation (fitted on the training split only): each input map is standardised by its training
mean and standard deviation. The per-pixel training-mean cube is both the "training mean"
baseline and what the network's output is added to; each (field, level) of that output is
scaled by the standard deviation of the training anomaly (target − mean cube), so every field's
departure from its climatology weighs the same in the loss (v's anomaly is 2–3× smaller than its
spatial pattern, and would otherwise hardly be learned).
"""

from __future__ import annotations

import numpy as np
import torch

from ...data.splits import planet_splits, treatment_record
from ...data.tensors import PlanetTensors, SplitDataModule
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


class DatacubeDataModule(SplitDataModule):
    def __init__(self, universe: Universe | None, cfg, split, num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.universe, self.cfg, self.split, self.num_workers, self.seed = universe, cfg, split, num_workers, seed
        self.batch_size = cfg.batch_size
        self.levels = np.arange(0)
        self.datasets: dict[str, PlanetTensors] = {}
        self.stats: dict[str, np.ndarray] = {}
        self.indices: dict[str, np.ndarray] = {}
        self.description, self.records = "", None

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
        inputs = source.inputs
        every_level = np.array_equal(self.levels, np.arange(n_levels))  # no copy of the cube then (memory: BENCHMARKS.md, table 6)
        targets = source.targets if every_level else {f: np.take(a, self.levels, axis=-3) for f, a in source.targets.items()}
        validate_cube(inputs, targets)
        grid, step = next(iter(inputs.values())).shape[-2:], 2**cfg.depth
        if grid[0] % step or grid[1] % step:
            raise UserError(f"{source.description}: grid lat × lon = {grid[0]} × {grid[1]} is not divisible by 2**depth = {step} "
                            f"(components.datacube.depth = {cfg.depth}); lower depth or regrid")
        n = len(source.features)
        if n < 3:
            raise UserError(f"{source.description}: {n} planet(s), but a planet split (train/val/test) needs at least 3; "
                            f"ingest more GCM runs into components.datacube.datacubes")
        self.indices = planet_splits(n, self.split.train, self.split.val, self.split.seed)
        train = self.indices["train"]
        x = np.stack([inputs[f] for f in cfg.input_fields], axis=1)  # [N, C_in, (T,) H, W]
        y = np.stack([targets[f] for f in cfg.target_fields], axis=1)  # [N, C_out, (T,) L, H, W]
        timed = x.ndim == 5
        field_axes = tuple(a for a in range(x.ndim) if a != 1)
        level_axes = tuple(a for a in range(y.ndim) if a not in (1, y.ndim - 3))
        self.stats = {
            "input_mean": x[train].mean(axis=field_axes), "input_std": x[train].std(axis=field_axes) + 1e-6,
            "target_mean": y[train].mean(axis=level_axes),
            "param_mean": source.features[train].mean(axis=0), "param_std": source.features[train].std(axis=0) + 1e-6,
            "mean_cube": y[train].mean(axis=(0, 2) if timed else 0),  # [F, L, H, W]
            "area_weights": source.area_weights,
            "sin_latitude": np.sin(np.deg2rad(source.latitude)),
        }
        anomaly = y[train] - (self.stats["mean_cube"][:, None] if timed else self.stats["mean_cube"])
        self.stats["target_std"] = anomaly.std(axis=level_axes) + 1e-12  # the network predicts the anomaly
        s = self.stats
        shape = (1, -1) + (1,) * (x.ndim - 2)
        full = PlanetTensors(
            maps=torch.from_numpy(((x - s["input_mean"].reshape(shape)) / s["input_std"].reshape(shape)).astype(np.float32)),
            params=torch.from_numpy(((source.features - s["param_mean"]) / s["param_std"]).astype(np.float32)),
            surface_temperature=torch.from_numpy(inputs["surface_temperature"].astype(np.float32))
            if "surface_temperature" in inputs else torch.zeros(n),
            target=torch.from_numpy(y.astype(np.float32, copy=False)),  # physical units
            pressure=torch.from_numpy(source.pressure[:, self.levels].astype(np.float32)),
            epsilon=torch.from_numpy(source.epsilon.astype(np.float32)),
            kappa=torch.from_numpy(source.kappa.astype(np.float32)),
        )
        self.datasets = {name: full.subset(idx) for name, idx in self.indices.items()}

    def treatment(self) -> dict:
        self.setup()
        record = treatment_record(self.indices, {k: v.tolist() for k, v in self.stats.items() if k not in ("mean_cube", "area_weights", "sin_latitude")})
        return {**record, "sources": self.records} if self.records else record


def build_datamodule(cfg, universe: Universe | None) -> DatacubeDataModule:
    return DatacubeDataModule(universe, cfg.components.datacube, cfg.data.split, cfg.data.num_workers, cfg.run.seed)
