"""Data of fusion: every modality of every universe planet, split by planet, with its labels.

Per planet: each modality's inputs (as its lending component reads them), an `available`
mask `[M]` (false where a modality does not exist for the planet, e.g. a failed evolution
integration), and the targets: climate state (6 classes), habitable surface fraction, biosphere flag.
The split is the universe's planet split (the one the components used); planets a lent
encoder was trained on on a split of its own (the datacube's first `max_planets`) are removed
from fusion's validation and test splits, so no held-out fusion planet was seen in pretraining.
"""

from __future__ import annotations

import numpy as np
import torch

from ...data.splits import planet_splits, treatment_record
from ...data.tensors import PlanetTensors, SplitDataModule
from ...errors import UserError
from ...universe.store import Universe
from .pretrained import pretrained_components


def fusion_splits(cfg, universe: Universe, pretrained: dict) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Fusion's planet split: the universe's, less every val/test planet a lent encoder was trained on
    (a planet an encoder has seen is no held-out planet of fusion); and how many were removed."""
    split = cfg.data.split
    indices = planet_splits(len(universe), split.train, split.val, split.seed)
    seen = [source.lender.trained_on(source.cfg, universe) for source in pretrained.values() if hasattr(source.lender, "trained_on")]
    seen = np.unique(np.concatenate(seen)) if seen else np.zeros(0, dtype=np.int64)
    removed = {name: int(np.isin(indices[name], seen).sum()) for name in ("val", "test")}
    for name in ("val", "test"):
        indices[name] = indices[name][~np.isin(indices[name], seen)]
        if len(indices[name]) == 0:
            raise UserError(f"no {name} planet is left for fusion: the datacube trained on all of them "
                            f"(components.datacube.max_planets covers the universe); lower max_planets or raise data.universe.n_planets")
    return indices, removed


class MultimodalDataModule(SplitDataModule):
    def __init__(self, cfg, universe: Universe, pretrained: dict, num_workers: int = 0):
        super().__init__()
        self.cfg, self.universe, self.pretrained = cfg, universe, pretrained
        self.modalities = list(pretrained)
        self.batch_size, self.num_workers, self.seed = cfg.components.multimodal.batch_size, num_workers, cfg.run.seed
        self.datasets: dict[str, PlanetTensors] = {}
        self.indices: dict[str, np.ndarray] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        n = len(self.universe)
        self.indices, self.held_out_seen = fusion_splits(self.cfg, self.universe, self.pretrained)
        arrays: dict[str, np.ndarray] = {}
        available = np.ones((n, len(self.modalities)), dtype=bool)
        for i, (modality, source) in enumerate(self.pretrained.items()):
            inputs = source.modality_inputs(self.universe)
            if "available" in inputs:
                available[:, i] = inputs.pop("available")
            arrays.update(inputs)
        params, atmosphere = self.universe.parameters, self.universe.atmosphere
        arrays["state"] = params["climate_state"].to_numpy().astype(np.int64)
        arrays["habitable"] = params["habitable_fraction"].to_numpy()
        arrays["biosphere"] = atmosphere["biosphere"].to_numpy().astype(np.float32)
        arrays["available"] = available
        tensors = {k: torch.from_numpy(v if v.dtype in (np.int64, np.bool_) else v.astype(np.float32)) for k, v in arrays.items()}
        self.every_planet = PlanetTensors(**tensors)  # indexed by universe planet (explain, predict)
        self.datasets = {name: self.every_planet.subset(idx) for name, idx in self.indices.items()}
        self.availability = {m: float(available[:, i].mean()) for i, m in enumerate(self.modalities)}

    def treatment(self) -> dict:
        self.setup()
        return treatment_record(self.indices, {
            "modalities": {m: {"component": s.component, "pretrained_run": str(s.run_dir), "available_share": self.availability[m],
                               **({"inputs_from": {c: str(u.run_dir) for c, u in s.upstream.items()}} if s.upstream else {})}
                           for m, s in self.pretrained.items()},
            "targets": ["climate_state (6 classes)", "habitable_fraction", "biosphere"],
            "removed_from_held_out": {**self.held_out_seen, "why": "a pretrained encoder trained on these planets (datacube: its own split of its first max_planets)"},
        })


def build_datamodule(cfg, universe: Universe) -> MultimodalDataModule:
    return MultimodalDataModule(cfg, universe, pretrained_components(cfg), cfg.data.num_workers)
