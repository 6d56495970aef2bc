"""Data for the surrogate: planet parameters → (features, PCA coefficients, maps, labels), split by planet.

The planets are the universe's, or a user's GCM runs (`components.surrogate.datacubes`, ingested with
their planet parameters): every time sample of a run is a sample, on the run's own grid, and the
split is by run, so no month of a held-out run is trained on. Their labels come from their fields
(`universe.labels.climate_states_on_grid` with the grid's cell areas; the habitable fraction at the
run's P0). Everything that is fitted — input normalisation and the PCA basis of each output map — is
fitted on the training split only and handed to the model as buffers (`basis`), with the grid's cell
areas and the nightside (the cells the training runs never lit).
"""

from __future__ import annotations

import numpy as np
import torch

from ...data.datacubes import stack_cubes
from ...data.features import parameter_features
from ...data.splits import planet_splits, treatment_record
from ...data.streaming import LazyPlanets, MemoryRows, cache_chunks, chunks_of, fits_in_memory, how_read, zarr_rows
from ...data.tensors import SplitDataModule
from ...errors import UserError
from ...universe.labels import area_weights, climate_states_on_grid, habitable_fraction
from ...universe.store import CLIMATE_STORE, Universe
from ...universe.thermo import boiling_point
from .model import F_STAR_INDEX, FIELDS, PER_UNIT_INSTELLATION
from .physics import nightside_mask


class PCAAccumulator:
    """The PCA of `[N, P]` maps fed in chunks: sums and the Gram matrix of the anomalies from a shift (the
    first chunk's mean, against cancellation), in float64 — one pass, P × P memory, whatever N."""

    def __init__(self):
        self.n, self.shift, self.sum, self.gram, self.sum_sq = 0, None, None, None, 0.0

    def add(self, maps: np.ndarray) -> None:
        x = np.asarray(maps, dtype=np.float64)
        if self.shift is None:
            self.shift = x.mean(axis=0)
            self.sum, self.gram = np.zeros_like(self.shift), np.zeros((x.shape[1], x.shape[1]))
        d = x - self.shift
        self.sum += d.sum(axis=0)
        self.gram += d.T @ d
        self.sum_sq += float((d * d).sum())
        self.n += len(x)

    def result(self, n_components: int) -> tuple[np.ndarray, np.ndarray, float]:
        """(mean `[P]`, components `[K, P]`, scale) — see `fit_pca`."""
        offset = self.sum / self.n
        covariance = self.gram - np.outer(self.sum, self.sum) / self.n  # Σ (x − mean)(x − mean)ᵀ
        _, eigenvectors = np.linalg.eigh(covariance)
        comps = eigenvectors[:, ::-1][:, :n_components].T
        signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
        scale = float(np.sqrt(max(self.sum_sq - float(self.sum @ self.sum) / self.n, 0.0) / self.n))
        return self.shift + offset, comps * signs[:, None], scale


def fit_pca(maps: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray, float]:
    """PCA of `[N, P]` training maps: (mean `[P]`, components `[K, P]`, scale).

    `scale` is the RMS norm of the anomalies, so coefficients / scale are O(1) and their
    squared error summed over components is the map's relative squared error. Eigenvectors of
    the float64 pixel covariance (P×P: cheaper than an SVD of N×P when N > P); the sign of each
    component is fixed (largest loading positive) so the basis is unique.
    """
    pca = PCAAccumulator()
    pca.add(maps)
    return pca.result(n_components)


class SurrogateBatches:
    """Raw rows (maps `[B, F, H, W]` per field, features, labels) → a batch with its PCA-coefficient targets."""

    def __init__(self, basis: dict):
        self.basis = basis
        # [F, P, K]: the projection is one batched matmul per batch (np.einsum of the same contraction runs its own
        # loops: 9.7 of the surrogate's 29 ms training step), in torch, whose thread pool the training step uses
        # too (numpy's OpenBLAS threads keep spinning after a call and slowed the next step by half on 2 cores)
        self.components_t = torch.from_numpy(np.asarray(basis["pca_components"], dtype=np.float64)).transpose(1, 2).contiguous()

    def __call__(self, raw: dict) -> dict[str, torch.Tensor]:
        features = raw["features"]
        maps = np.stack([raw[f"map:{f}"].reshape(len(features), -1) for f in FIELDS], axis=1)  # [B, F, P]
        f_star = features[:, F_STAR_INDEX].astype(np.float64)
        modelled = np.stack([maps[:, f] / f_star[:, None] if scaled else maps[:, f] for f, scaled in enumerate(PER_UNIT_INSTELLATION)], axis=1)
        b = self.basis
        anomalies = torch.from_numpy(modelled - b["pca_mean"][None]).transpose(0, 1)  # [F, B, P]
        coeffs = torch.matmul(anomalies, self.components_t).transpose(0, 1).numpy() / b["pca_scale"][None, :, None]  # [B, F, K]
        return {"features": torch.from_numpy(features), "coeffs": torch.from_numpy(coeffs.astype(np.float32)),
                "maps": torch.from_numpy(maps.astype(np.float32)), "state": torch.from_numpy(raw["state"]),
                "habitable": torch.from_numpy(raw["habitable"].astype(np.float32)), "boiling_point": torch.from_numpy(raw["boiling_point"])}


def universe_samples(universe: Universe) -> dict:
    """The universe's planets: CLERO's grid, its labels, the fixed nightside of its tidally locked planets."""
    table = universe.parameters
    n = len(table)
    maps = {f: zarr_rows(universe.path / CLIMATE_STORE, f) for f in FIELDS}
    return {"runs": n, "run": np.arange(n), "features": parameter_features(table), "P0": table["P0"].to_numpy(), "maps": maps,
            "state": table["climate_state"].to_numpy().astype(np.int64), "habitable": table["habitable_fraction"].to_numpy(),
            "area_weights": area_weights(), "nightside": lambda asr: nightside_mask(), "shape": (32, 64), "chunk_rows": maps[FIELDS[0]].chunk_rows,
            "description": f"CLERO universe {universe.path}"}


def cube_samples(paths: list[str]) -> dict:
    """Ingested GCM runs: every time sample of each run, its run's parameters as features, labels from its fields."""
    import pandas as pd

    cubes = stack_cubes(paths, tuple(FIELDS))
    lacking = [p for p, q in zip(paths, cubes.parameters) if not q]
    if lacking:
        raise UserError(f"components.surrogate.datacubes: {lacking} carry no planet parameters, which the surrogate learns from; "
                        "ingest them with --parameters <sidecar CSV> (or files whose attributes give all eight)")
    data = cubes.data
    timed = "time" in data["surface_temperature"].dims
    steps = data.sizes.get("time", 1) if timed else 1
    grid = data["surface_temperature"].shape[-2:]
    maps = np.stack([data[f].values.reshape(len(paths) * steps, -1) for f in FIELDS], axis=1)
    run = np.repeat(np.arange(len(paths)), steps)
    params = pd.DataFrame([cubes.parameters[r] for r in run])
    ts = maps[:, 0].reshape(-1, *grid)
    top = None
    if "specific_humidity" in data and "level" in data.dims:
        q = data["specific_humidity"].isel(level=-1).values.reshape(len(paths) * steps, *grid)
        mu_dry = 28.97  # Earth air: the runs carry no composition
        top = ((q / 18.015) / (q / 18.015 + (1 - q) / mu_dry) * cubes.area_weights).sum(axis=(-2, -1))
    return {"runs": len(paths), "run": run, "features": parameter_features(params), "P0": params["P0"].to_numpy(),
            "maps": {f: MemoryRows(maps[:, i].reshape(-1, *grid)) for i, f in enumerate(FIELDS)}, "chunk_rows": steps,
            "state": climate_states_on_grid(ts, cubes.area_weights, top), "habitable": habitable_fraction(ts, params["P0"].to_numpy(), cubes.area_weights),
            "area_weights": cubes.area_weights, "nightside": lambda mean_asr: np.asarray(mean_asr) < 1.0, "shape": tuple(grid),
            "description": f"{len(paths)} ingested GCM run(s): {', '.join(paths)}", "records": cubes.records}


BASIS_KEYS = ("input_mean", "input_std", "pca_mean", "pca_components", "pca_scale")  # the model's buffers of the fitted treatment


class SurrogateDataModule(SplitDataModule):
    def __init__(self, universe: Universe | None, n_components: int, batch_size: int, split, num_workers: int = 0, seed: int = 0,
                 datacubes: list[str] | None = None, data_cfg=None):
        super().__init__()
        self.universe, self.datacubes, self.data_cfg = universe, list(datacubes or []), data_cfg
        self.n_components = n_components
        self.batch_size = batch_size
        self.split = split
        self.num_workers = num_workers
        self.seed = seed
        self.datasets: dict = {}
        self.basis: dict[str, np.ndarray] = {}
        self.indices: dict[str, np.ndarray] = {}
        self.adopted: dict[str, np.ndarray] | None = None  # a parent run's basis (--init-from), used where its grid is this one's
        self.treatment_adopted: bool | None = None  # after setup with a parent: whether its basis was taken
        self.fitted_buffers = tuple(f"model.{name}" for name in BASIS_KEYS)  # the module's buffers this treatment fills

    def adopt_treatment(self, state: dict) -> None:
        """Take the input normalisation and PCA basis of a parent model (`--init-from`): its coefficients then mean
        what the loaded head predicts, and a few fine-tuning runs need not fit a basis of their own."""
        self.adopted = {name: state[f"model.{name}"].double().numpy() for name in BASIS_KEYS if f"model.{name}" in state}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return

        source = cube_samples(self.datacubes) if self.datacubes else universe_samples(self.universe)
        run_splits = planet_splits(source["runs"], self.split.train, self.split.val, self.split.seed)
        self.indices = {k: np.flatnonzero(np.isin(source["run"], v)) for k, v in run_splits.items()}
        train = self.indices["train"]
        n_pixels = int(np.prod(source["shape"]))
        adopt = self.adopted is not None and len(self.adopted) == len(BASIS_KEYS) and self.adopted["pca_mean"].shape[-1] == n_pixels \
            and self.adopted["pca_components"].shape[1] == self.n_components
        if len(train) <= self.n_components and not adopt:
            raise UserError(f"components.surrogate.n_components={self.n_components} needs more than that many training samples (have {len(train)}); "
                            "lower it or give more planets")
        n = len(source["run"])
        maps = {f"map:{f}": rows for f, rows in source["maps"].items()}
        d = self.data_cfg
        self.in_memory = d.in_memory if d is not None and d.in_memory is not None else fits_in_memory(maps, d.memory_budget_gb if d else 8.0)
        if self.in_memory:
            maps = {name: rows if isinstance(rows, MemoryRows) else MemoryRows(rows.rows(np.arange(n))) for name, rows in maps.items()}
        features = source["features"]
        self.basis, night_asr = self.fit_basis(maps, features, train, with_pca=not adopt)
        if adopt:
            self.basis = dict(self.adopted)
        self.basis_source = "the parent run (init.checkpoint)" if adopt else "this run's training split"
        self.treatment_adopted = adopt if self.adopted is not None else None
        self.grid = {"area_weights": source["area_weights"].reshape(-1), "nightside": source["nightside"](night_asr), "shape": source["shape"]}
        sources = {**maps, "features": MemoryRows(features), "state": MemoryRows(source["state"]),
                   "habitable": MemoryRows(np.asarray(source["habitable"], dtype=np.float32)),
                   "boiling_point": MemoryRows(boiling_point(source["P0"] * 1e5).astype(np.float32))}  # the habitable window's top
        self.description, self.records = source["description"], source.get("records")
        self.order = d.shuffle if d is not None and d.shuffle != "auto" else ("planets" if self.in_memory else "chunks")
        self.buffer_chunks = d.shuffle_buffer_chunks if d is not None else 4
        cache_chunks(sources, self.buffer_chunks + 1)  # streamed: each chunk of a shuffling buffer decoded once
        self.datasets = {name: LazyPlanets(sources, idx, SurrogateBatches(self.basis), source["chunk_rows"]) for name, idx in self.indices.items()}

    def fit_basis(self, maps: dict, features: np.ndarray, train: np.ndarray, chunk: int = 256, with_pca: bool = True) -> tuple[dict, np.ndarray]:
        """Input normalisation and each field's PCA basis on the training split, in one pass; and the training
        maps' mean ASR (where it is zero: the nightside). `with_pca=False`: the normalisation and ASR only."""
        pcas = [PCAAccumulator() for _ in FIELDS]
        asr_sum = 0.0
        for rows in chunks_of(np.sort(train), chunk):
            f_star = features[rows, F_STAR_INDEX].astype(np.float64)
            for f, (field, scaled) in enumerate(zip(FIELDS, PER_UNIT_INSTELLATION)):
                if not (with_pca or field == "asr"):
                    continue
                values = maps[f"map:{field}"].rows(rows).reshape(len(rows), -1).astype(np.float64)
                if with_pca:
                    pcas[f].add(values / f_star[:, None] if scaled else values)
                if field == "asr":
                    asr_sum = asr_sum + values.sum(axis=0)
        basis = {"input_mean": features[train].mean(axis=0), "input_std": features[train].std(axis=0) + 1e-6}
        if with_pca:
            means, comps, scales = zip(*(pca.result(self.n_components) for pca in pcas))
            basis.update(pca_mean=np.stack(means), pca_components=np.stack(comps), pca_scale=np.asarray(scales))
        return basis, asr_sum / len(train)

    def treatment(self) -> dict:
        self.setup()
        record = treatment_record(
            self.indices,
            {
                "data": self.description,
                "input_features": "log10 of P_rot, P0, CO2, CH4; the other inputs as they are",
                "input_mean": self.basis["input_mean"].tolist(),
                "input_std": self.basis["input_std"].tolist(),
                "pca_components": int(self.n_components),
                "basis_fitted_on": self.basis_source,
                "pca_scale": self.basis["pca_scale"].tolist(),
                "read": how_read(self.in_memory, self.order),
            },
        )
        return {**record, "sources": self.records} if self.records else record


def build_datamodule(cfg, universe: Universe | None) -> SurrogateDataModule:
    sc = cfg.components.surrogate
    return SurrogateDataModule(universe, sc.n_components, sc.batch_size, cfg.data.split, cfg.data.num_workers, cfg.run.seed, sc.datacubes, cfg.data)
