"""The shipped models behind `predict`, one interface per backend:
`predict(features) -> (state probabilities, habitable fraction, surface-T maps)` and `mean_maps`.

`onnx` / `onnx-int8` run the exported graphs in onnxruntime (numpy in, numpy out, no torch);
`torch` rebuilds the same modules from the run's checkpoints.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CHUNK = 4096


class Predictor:
    def fusion(self, features: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def surface_temperature(self, features: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, features: np.ndarray):
        features = np.ascontiguousarray(features, dtype=np.float32)
        probs, fraction, _ = self.fusion(features)
        return probs, fraction, self.surface_temperature(features)

    def mean_maps(self, planets, draws) -> np.ndarray:
        """Surface-T map of each planet averaged over the drawn atmospheres `[n, P]`."""
        from ...data.features import parameter_features

        n, k = len(planets), len(draws)
        grid = planets.loc[planets.index.repeat(k)].reset_index(drop=True)
        for column in ("P0", "CO2", "CH4"):
            grid[column] = np.tile(draws[column].to_numpy(), n)
        return self.surface_temperature(parameter_features(grid)).reshape(n, k, -1).mean(axis=1)


class OnnxPredictor(Predictor):
    def __init__(self, folder: Path, int8: bool):
        from .runtime import session

        suffix = ".int8.onnx" if int8 else ".onnx"
        self.sessions = {name: session(folder / "export" / f"{name}{suffix}") for name in ("fusion", "surrogate")}

    def fusion(self, features):
        from .runtime import run_onnx

        return run_onnx(self.sessions["fusion"], features, CHUNK)

    def surface_temperature(self, features):
        from .runtime import run_onnx

        return run_onnx(self.sessions["surrogate"], features, CHUNK)[0]


class TorchPredictor(Predictor):
    def __init__(self, folder: Path, manifest: dict):
        from ...api import load_run
        from ...config.loader import read_yaml, validate
        from ...training import run_dir as rd
        from ...training.checkpoint import load_verified
        from ..surrogate import encoder
        from .model import FusionFromParameters, SurfaceTemperatureModel

        fusion = load_run(Path(manifest["source_run"])).fusion()
        self.fusion_model = FusionFromParameters(fusion.module.model, fusion.modalities.index("parameters")).eval()
        teacher = Path(manifest["surrogate_run"])
        cfg = validate(read_yaml(teacher / rd.CONFIG_FILE), source=str(teacher / rd.CONFIG_FILE))
        state = load_verified(teacher / "checkpoints" / "last.ckpt")["state_dict"]
        self.surrogate_model = SurfaceTemperatureModel(encoder.lend(cfg, state, {}).pretrained).eval()

    def fusion(self, features):
        from .export import run_torch

        return run_torch(self.fusion_model, features, CHUNK)

    def surface_temperature(self, features):
        from .export import run_torch

        return run_torch(self.surrogate_model, np.ascontiguousarray(features, dtype=np.float32), CHUNK)[0]


def load_predictor(backend: str, folder: Path, manifest: dict) -> Predictor:
    if backend in ("onnx", "onnx-int8"):
        return OnnxPredictor(folder, backend == "onnx-int8")
    return TorchPredictor(folder, manifest)
