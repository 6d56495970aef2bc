"""Data of the evolution emulator: the universe's box-model trajectories, split by planet.

Per time step (50 Myr, 0-4.5 Gyr) the features are log10 pCO2 [bar], T [K], log10(pO2 + 1e-8
bar), and the carbonate and mantle shares of the planet's carbon. The first `start_steps`
are given (default 1: the state at t = 0, known from the drivers without integrating anything);
the rest is forecast. Per planet, the drivers of its box model (instellation,
carbon inventory, outgassing, subduction, land, O2 mode …) are known inputs. Trajectories whose
integration failed during generation are excluded and counted (`treatment.json`).
"""

from __future__ import annotations

import numpy as np
import torch

from ...data.splits import planet_splits, treatment_record
from ...data.tensors import PlanetTensors, SplitDataModule
from ...errors import UserError
from ...universe.evolution import O2_MODES, OCEAN_BUFFER
from ...universe.store import Universe

FEATURES = ("log10_pCO2", "temperature", "log10_pO2", "f_carbonate", "f_mantle")
PO2_FLOOR = 1e-8  # bar, added before the log (an anoxic atmosphere)
LOG_DRIVERS = ("C_total", "atmosphere_fraction_0", "k_outgassing", "tau_subduction", "weatherability")
LINEAR_DRIVERS = ("F_star", "tau_outgassing", "land_fraction", "t_oxygenation")


def trajectory_features(evolution: dict[str, np.ndarray]) -> np.ndarray:
    """`[planet, time, feature]` in the order of FEATURES."""
    c_total = evolution["C_total"][:, None]
    return np.stack(
        [
            np.log10(np.maximum(evolution["pCO2"], 1e-30)),
            evolution["temperature"],
            np.log10(evolution["pO2"] + PO2_FLOOR),
            evolution["C_carbonate"] / c_total,
            evolution["C_mantle"] / c_total,
        ],
        axis=-1,
    )


def driver_features(evolution: dict[str, np.ndarray]) -> np.ndarray:
    """`[planet, driver]`: log10 of the inventories and rates, the rest linear, O2 mode one-hot."""
    columns = [np.log10(evolution[k]) for k in LOG_DRIVERS] + [evolution[k] for k in LINEAR_DRIVERS]
    columns.append(np.log10(evolution["O2_today"] + PO2_FLOOR))
    columns += [(evolution["o2_mode"] == code).astype(np.float64) for code in O2_MODES.values()]
    return np.stack(columns, axis=1)


class EvolutionDataModule(SplitDataModule):
    def __init__(self, universe: Universe, start_steps: int, split, batch_size: int, num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.universe, self.start_steps, self.split = universe, start_steps, split
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.datasets: dict[str, PlanetTensors] = {}
        self.indices: dict[str, np.ndarray] = {}
        self.stats: dict[str, np.ndarray] = {}
        self.excluded = 0

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        evolution = self.universe.evolution()
        ok = evolution["ok"].astype(bool)
        self.excluded = int((~ok).sum())
        self.time = evolution["time"]
        if self.start_steps >= len(self.time) - 1:
            raise UserError(f"components.evolution.start_steps={self.start_steps} leaves nothing to forecast on a {len(self.time)}-point time grid; lower it")
        splits = planet_splits(len(ok), self.split.train, self.split.val, self.split.seed)
        self.indices = {name: idx[ok[idx]] for name, idx in splits.items()}  # failed integrations: out
        train = self.indices["train"]
        for name, minimum in (("train", 2), ("val", 1), ("test", 1)):
            if len(self.indices[name]) < minimum:
                raise UserError(
                    f"only {len(self.indices[name])} {name} trajectories of universe {self.universe.path} integrated "
                    f"({self.excluded} failed, see its manifest); loosen data.universe.evolution_* or raise n_planets"
                )
        features, drivers = trajectory_features(evolution), driver_features(evolution)
        self.stats = {
            "feature_mean": features[train].mean(axis=(0, 1)),
            "feature_std": features[train].std(axis=(0, 1)) + 1e-6,
            "driver_mean": drivers[train].mean(axis=0),
            "driver_std": drivers[train].std(axis=0) + 1e-6,
            "time_gyr": self.time,
        }
        for name, idx in self.indices.items():
            self.datasets[name] = PlanetTensors(
                trajectory=torch.from_numpy(features[idx].astype(np.float32)),
                drivers=torch.from_numpy(drivers[idx].astype(np.float32)),
                f_star=torch.from_numpy(evolution["F_star"][idx].astype(np.float32)),
                log10_c_total=torch.from_numpy(np.log10(evolution["C_total"][idx]).astype(np.float32)),
            )

    def treatment(self) -> dict:
        self.setup()
        return treatment_record(
            self.indices,
            {
                "features": list(FEATURES),
                "observed_start_gyr": float(self.time[self.start_steps - 1]),
                "excluded_failed_integrations": self.excluded,
                "ocean_buffer": OCEAN_BUFFER,
                **{key: value.tolist() for key, value in self.stats.items()},
            },
        )


def build_datamodule(cfg, universe: Universe) -> EvolutionDataModule:
    ec = cfg.components.evolution
    return EvolutionDataModule(universe, ec.start_steps, cfg.data.split, ec.batch_size, cfg.data.num_workers, cfg.run.seed)
