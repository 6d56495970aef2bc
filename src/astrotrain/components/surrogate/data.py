"""Data for the surrogate: universe parameters → (features, PCA coefficients, maps, labels), split by planet.

Everything that is fitted — input normalisation and the PCA basis of each output map — is
fitted on the training split only and handed to the model as buffers (`basis`).
"""

from __future__ import annotations

import numpy as np
import torch

from ...data.features import parameter_features
from ...data.splits import planet_splits, treatment_record
from ...data.tensors import PlanetTensors, SplitDataModule
from ...errors import UserError
from ...universe.store import Universe
from ...universe.thermo import boiling_point
from .model import F_STAR_INDEX, FIELDS, PER_UNIT_INSTELLATION


def fit_pca(maps: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray, float]:
    """PCA of `[N, P]` training maps: (mean `[P]`, components `[K, P]`, scale).

    `scale` is the RMS norm of the anomalies, so coefficients / scale are O(1) and their
    squared error summed over components is the map's relative squared error. Eigenvectors of
    the float64 pixel covariance (P×P: cheaper than an SVD of N×P when N > P); the sign of each
    component is fixed (largest loading positive) so the basis is unique.
    """
    x = maps.astype(np.float64)
    mean = x.mean(axis=0)
    anomalies = x - mean
    eigenvalues, eigenvectors = np.linalg.eigh(anomalies.T @ anomalies)
    comps = eigenvectors[:, ::-1][:, :n_components].T
    signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    comps = comps * signs[:, None]
    scale = float(np.sqrt((anomalies**2).sum(axis=1).mean()))
    return mean, comps, scale


class SurrogateDataModule(SplitDataModule):
    def __init__(self, universe: Universe, n_components: int, batch_size: int, split, num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.universe = universe
        self.n_components = n_components
        self.batch_size = batch_size
        self.split = split
        self.num_workers = num_workers
        self.seed = seed
        self.datasets: dict[str, PlanetTensors] = {}
        self.basis: dict[str, np.ndarray] = {}
        self.indices: dict[str, np.ndarray] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        table = self.universe.parameters
        n = len(table)
        self.indices = planet_splits(n, self.split.train, self.split.val, self.split.seed)
        train = self.indices["train"]
        if len(train) <= self.n_components:
            raise UserError(f"components.surrogate.n_components={self.n_components} needs more than that many training planets (have {len(train)}); lower it or raise data.universe.n_planets")
        features = parameter_features(table)
        maps = np.stack([self.universe.field(name).reshape(n, -1) for name in FIELDS], axis=1)  # [N, F, P]
        f_star = features[:, F_STAR_INDEX].astype(np.float64)
        modelled = np.stack(
            [maps[:, f] / f_star[:, None] if scaled else maps[:, f] for f, scaled in enumerate(PER_UNIT_INSTELLATION)], axis=1
        )
        means, comps, scales = zip(*(fit_pca(modelled[train, f], self.n_components) for f in range(len(FIELDS))))
        self.basis = {
            "input_mean": features[train].mean(axis=0),
            "input_std": features[train].std(axis=0) + 1e-6,
            "pca_mean": np.stack(means),
            "pca_components": np.stack(comps),
            "pca_scale": np.asarray(scales),
        }
        anomalies = modelled - self.basis["pca_mean"][None]
        coeffs = np.einsum("nfp,fkp->nfk", anomalies, self.basis["pca_components"]) / self.basis["pca_scale"][None, :, None]
        tensors = {
            "features": torch.from_numpy(features),
            "coeffs": torch.from_numpy(coeffs.astype(np.float32)),
            "maps": torch.from_numpy(maps.astype(np.float32)),
            "state": torch.from_numpy(table["climate_state"].to_numpy().astype(np.int64)),
            "habitable": torch.from_numpy(table["habitable_fraction"].to_numpy().astype(np.float32)),
            "boiling_point": torch.from_numpy(boiling_point(table["P0"].to_numpy() * 1e5).astype(np.float32)),  # the habitable window's top
        }
        for name, idx in self.indices.items():
            index = torch.from_numpy(idx)
            self.datasets[name] = PlanetTensors(**{k: v[index] for k, v in tensors.items()})

    def treatment(self) -> dict:
        self.setup()
        return treatment_record(
            self.indices,
            {
                "input_features": "log10 of P_rot, P0, CO2, CH4; the other inputs as they are",
                "input_mean": self.basis["input_mean"].tolist(),
                "input_std": self.basis["input_std"].tolist(),
                "pca_components": int(self.n_components),
                "pca_scale": self.basis["pca_scale"].tolist(),
            },
        )


def build_datamodule(cfg, universe: Universe) -> SurrogateDataModule:
    sc = cfg.components.surrogate
    return SurrogateDataModule(universe, sc.n_components, sc.batch_size, cfg.data.split, cfg.data.num_workers, cfg.run.seed)
