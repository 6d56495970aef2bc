"""ONNX export (`torch.onnx.export`, dynamic batch axis), parity against PyTorch, dynamic int8 quantisation.

Parity: ONNX Runtime and PyTorch run the same held-out inputs; per output the max |Δ| must stay
within `parity_rtol × max |reference| + parity_atol`, or the export is refused (UserError:
a model that does not compute what was trained is never shipped). int8: onnxruntime's
`quantize_dynamic` (weights int8 per output channel, activations uint8 quantised on the fly) — its accuracy is
judged on the held-out science metrics, not on parity (`module.py`).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from ...errors import UserError
from .model import OUTPUTS


def export_onnx(model: torch.nn.Module, name: str, example: torch.Tensor, path: Path, opset: int) -> Path:
    """Export `model` (inputs/outputs named as `OUTPUTS[name]`) with a dynamic batch axis."""
    inputs, outputs = OUTPUTS[name]
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    with warnings.catch_warnings(), _quiet("torch.onnx", "onnxscript", "torch._export"):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model.eval(), (example,), dynamo=True, input_names=inputs, output_names=outputs,
                                    dynamic_shapes=({0: batch},), opset_version=opset, verbose=False)
    program.save(str(path))
    return path


def run_torch(model: torch.nn.Module, features: np.ndarray, chunk: int = 4096) -> list[np.ndarray]:
    with torch.inference_mode():
        parts = [_as_tuple(model(torch.from_numpy(features[i:i + chunk]))) for i in range(0, len(features), chunk)]
    return [np.concatenate([p[j].numpy() for p in parts]) for j in range(len(parts[0]))]


def parity(name: str, reference: list[np.ndarray], exported: list[np.ndarray], rtol: float, atol: float) -> dict:
    """Per output: max |Δ|, the reference's max |value|, the allowed |Δ| and whether it holds."""
    report = {}
    for out_name, ref, got in zip(OUTPUTS[name][1], reference, exported):
        err = float(np.abs(got.astype(np.float64) - ref).max())
        scale = float(np.abs(ref).max())
        report[out_name] = {"max_abs_error": err, "max_abs_reference": scale, "relative_error": err / max(scale, 1e-30),
                            "tolerance": rtol * scale + atol, "ok": err <= rtol * scale + atol}
    return report


def check_parity(reports: dict) -> None:
    bad = [f"{model}.{out}: max |Δ| {r['max_abs_error']:.3g} > {r['tolerance']:.3g}" for model, outs in reports.items() for out, r in outs.items() if not r["ok"]]
    if bad:
        raise UserError("ONNX export does not reproduce PyTorch within components.production.parity_rtol/parity_atol: " + "; ".join(bad)
                        + ". Nothing is shipped; raise the tolerance only if the difference is understood (e.g. another opset)")


def quantize_int8(source: Path, target: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet("root", "onnxruntime"):
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)
    return target


def _as_tuple(out) -> tuple:
    return out if isinstance(out, tuple) else (out,)


class _quiet:
    """Raise the named loggers to ERROR for the block (the exporters narrate every step at INFO)."""

    def __init__(self, *names: str):
        self.loggers = [logging.getLogger(n) for n in names]

    def __enter__(self):
        self.levels = [lg.level for lg in self.loggers]
        for lg in self.loggers:
            lg.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        for lg, level in zip(self.loggers, self.levels):
            lg.setLevel(level)
