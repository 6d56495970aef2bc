"""onnxruntime sessions and batched runs: numpy in, numpy out (this module never imports torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def session(path: Path, threads: int = 0):
    """An onnxruntime CPU session (`threads` 0 = onnxruntime's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(sess, features: np.ndarray, chunk: int = 4096) -> list[np.ndarray]:
    """All outputs of `sess` on `features` `[N, 8]`, run `chunk` rows at a time."""
    features = np.ascontiguousarray(features, dtype=np.float32)
    parts = [sess.run(None, {"features": features[i:i + chunk]}) for i in range(0, len(features), chunk)]
    return [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]
