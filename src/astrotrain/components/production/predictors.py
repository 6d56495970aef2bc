"""The shipped surrogate behind `predict`, one interface per backend:
`climate(features [n, 8]) -> (surface-T maps [n, P], climate-state probabilities [n, 6])`.

`onnx` / `onnx-int8` run the exported graph in onnxruntime (numpy in, numpy out, no torch);
`torch` rebuilds the same module from the surrogate run's checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...config.loader import read_yaml, validate
from ...runs import layout as rd
from .runtime import run_onnx, session

CHUNK = 4096


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


class OnnxPredictor:
    def __init__(self, folder: Path, int8: bool):
        self.session = session(folder / "export" / f"surrogate{'.int8.onnx' if int8 else '.onnx'}")

    def climate(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        maps, logits = run_onnx(self.session, features, CHUNK)
        return maps, softmax(logits)


class TorchPredictor:
    def __init__(self, folder: Path, manifest: dict):
        # torch only here: the ONNX backends serve on machines without it
        from ...runs.checkpoints import load_verified
        from ..surrogate import encoder
        from .export import run_torch
        from .model import SurfaceTemperatureModel

        self.run_torch = run_torch
        teacher = Path(manifest["surrogate_run"])
        cfg = validate(read_yaml(teacher / rd.CONFIG_FILE), source=str(teacher / rd.CONFIG_FILE))
        state = load_verified(teacher / "checkpoints" / "last.ckpt")["state_dict"]
        self.model = SurfaceTemperatureModel(encoder.lend(cfg, state, {}).pretrained).eval()

    def climate(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        maps, logits = self.run_torch(self.model, np.ascontiguousarray(features, dtype=np.float32), CHUNK)
        return maps, softmax(logits)


def load_predictor(backend: str, folder: Path, manifest: dict):
    if backend in ("onnx", "onnx-int8"):
        return OnnxPredictor(folder, backend == "onnx-int8")
    return TorchPredictor(folder, manifest)
