"""Data for the datacube U-Net: 2D maps + parameters → 3D fields on the model levels, split by planet.

Normalisation (fitted on the training split only): each input map and each (field, level) of
the targets is standardised by its training mean and standard deviation; the per-pixel
training-mean cube is kept as the "training mean" baseline.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch

from ...data.features import parameter_features
from ...data.splits import planet_splits, treatment_record
from ...data.tensors import PlanetTensors, planet_loader
from ...errors import UserError
from ...universe.store import Universe


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


class DatacubeDataModule(L.LightningDataModule):
    def __init__(self, universe: Universe, cfg, split, num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.universe, self.cfg, self.split, self.num_workers, self.seed = universe, cfg, split, num_workers, seed
        self.batch_size = cfg.batch_size
        self.levels = np.asarray(cfg.levels if cfg.levels is not None else range(10))
        self.datasets: dict[str, PlanetTensors] = {}
        self.stats: dict[str, np.ndarray] = {}
        self.indices: dict[str, np.ndarray] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        from clero.climate_analysis import pressure_levels

        n = len(self.universe) if self.cfg.max_planets == 0 else min(self.cfg.max_planets, len(self.universe))
        table = self.universe.parameters.iloc[:n]
        inputs = {f: self.universe.field(f, slice(0, n)) for f in self.cfg.input_fields}
        targets = {f: self.universe.field(f, slice(0, n))[:, self.levels] for f in self.cfg.target_fields}
        validate_cube(inputs, targets)
        self.indices = planet_splits(n, self.split.train, self.split.val, self.split.seed)
        train = self.indices["train"]
        x = np.stack([inputs[f] for f in self.cfg.input_fields], axis=1)  # [N, C_in, H, W]
        y = np.stack([targets[f] for f in self.cfg.target_fields], axis=1)  # [N, C_out, L, H, W]
        features = parameter_features(table)
        self.stats = {
            "input_mean": x[train].mean(axis=(0, 2, 3)), "input_std": x[train].std(axis=(0, 2, 3)) + 1e-6,
            "target_mean": y[train].mean(axis=(0, 3, 4)), "target_std": y[train].std(axis=(0, 3, 4)) + 1e-12,
            "param_mean": features[train].mean(axis=0), "param_std": features[train].std(axis=0) + 1e-6,
            "mean_cube": y[train].mean(axis=0),
        }
        s = self.stats
        pressure = np.stack([pressure_levels(float(p))[self.levels] for p in table["P0"]]).astype(np.float32)
        full = PlanetTensors(
            maps=torch.from_numpy(((x - s["input_mean"][None, :, None, None]) / s["input_std"][None, :, None, None]).astype(np.float32)),
            params=torch.from_numpy(((features - s["param_mean"]) / s["param_std"]).astype(np.float32)),
            surface_temperature=torch.from_numpy(inputs["surface_temperature"].astype(np.float32)) if "surface_temperature" in inputs else torch.zeros(n),
            target=torch.from_numpy(y.astype(np.float32)),  # physical units
            pressure=torch.from_numpy(pressure),
        )
        self.datasets = {name: full.subset(idx) for name, idx in self.indices.items()}

    def treatment(self) -> dict:
        self.setup()
        return treatment_record(self.indices, {k: v.tolist() for k, v in self.stats.items() if k != "mean_cube"})

    def train_dataloader(self):
        return planet_loader(self.datasets["train"], self.batch_size, True, self.seed, self.num_workers)

    def val_dataloader(self):
        return planet_loader(self.datasets["val"], self.batch_size, False, self.seed, self.num_workers)

    def test_dataloader(self):
        return planet_loader(self.datasets["test"], self.batch_size, False, self.seed, self.num_workers)


def build_datamodule(cfg, universe: Universe) -> DatacubeDataModule:
    return DatacubeDataModule(universe, cfg.components.datacube, cfg.data.split, cfg.data.num_workers, cfg.run.seed)
