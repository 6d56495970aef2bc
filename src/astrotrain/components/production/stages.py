"""The stages of phase 5, each a short function over one `Shipment` (what the phase has built so far).

`loop.train` calls them in order: setup → distil → export → measure → benchmark → validity → record →
predict and card.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import save_file

from ...config.loader import read_yaml, validate
from ...data.features import parameter_features
from ...data.nasa import cache_dir_of
from ...data.observation import observed_parameter_features
from ...data.splits import planet_splits
from ...errors import UserError
from ...fsutil import atomic_write_json
from ...plots import PLOTS_DIR
from ...runs import layout as rd
from ...runs.checkpoints import load_verified
from ...runs.run import RunDirectory, open_run
from ...universe.sampling import PARAMETER_NAMES
from ..multimodal.data import fusion_splits
from ..multimodal.load import FusionModel, load_fusion
from ..multimodal.pretrained import pretrained_components
from ..surrogate import encoder as surrogate_encoder
from . import benchmark, card, export
from .distill import distill
from .draws import atmosphere_quantiles, universe_prior
from .heldout import fusion_metrics, map_metrics
from .model import FusionFromParameters, SurfaceTemperatureModel
from .predict import predict_catalog
from .predictors import softmax
from .report import plot_throughput
from .runtime import run_onnx, session
from .validity import measure_validity

EXPORT_DIR = "export"


@dataclass
class Shipment:
    """Phase 5's state, stage by stage."""

    cfg: object
    run_dir: Path
    teacher_dir: Path
    log: Callable = print
    source: RunDirectory | None = None
    teacher_cfg: object = None
    fusion: FusionModel | None = None
    universe: object = None
    models: dict = field(default_factory=dict)  # name → nn.Module from the 8 parameter features
    test: dict = field(default_factory=dict)  # name → held-out planet indices
    features: dict = field(default_factory=dict)  # name → [N, 8] float32 inputs of those planets
    sessions: dict = field(default_factory=dict)  # name → {backend: onnxruntime session}
    reference: dict = field(default_factory=dict)  # name → PyTorch outputs on its test planets
    parity: dict = field(default_factory=dict)
    distillation: dict = field(default_factory=dict)
    heldout: dict = field(default_factory=dict)  # "model/backend" → science metrics
    int8_check: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    speedup: dict = field(default_factory=dict)
    clero_planets: int = 0
    validity: dict = field(default_factory=dict)

    @property
    def pc(self):
        return self.cfg.components.production

    @property
    def export_dir(self) -> Path:
        return self.run_dir / EXPORT_DIR


def setup(cfg, run_dir: Path, teacher_dir: Path, log=print) -> Shipment:
    """The models to ship — phase 1's surrogate (the teacher) and phase 2's fusion read from the catalog
    entry alone — and the held-out test planets of each."""
    s = Shipment(cfg, run_dir, teacher_dir, log)
    s.source = open_run(Path(s.pc.source))
    s.teacher_cfg = run_config(teacher_dir)
    state = load_verified(teacher_dir / "checkpoints" / "last.ckpt")["state_dict"]
    teacher = surrogate_encoder.lend(s.teacher_cfg, state, {}).pretrained.eval()
    s.fusion = load_fusion(s.source)
    if "parameters" not in s.fusion.modalities:
        raise UserError(f"the fusion model of {s.pc.source} does not read planet parameters (components.multimodal.modalities); "
                        "production ships a model that predicts archive planets from their parameters")
    s.models = {"surrogate": SurfaceTemperatureModel(teacher).eval(),
                "fusion": FusionFromParameters(s.fusion.module.model, s.fusion.modalities.index("parameters")).eval()}
    s.universe = s.source.universe()
    fusion_cfg = s.source.fusion_config()
    s.test = {"surrogate": test_planets(s.teacher_cfg, s.universe),
              "fusion": fusion_splits(fusion_cfg, s.universe, pretrained_components(fusion_cfg))[0]["test"]}
    s.test["fast_surrogate"] = s.test["surrogate"]
    s.features = {name: planet_features(s.universe, idx) for name, idx in s.test.items()}
    s.features["fusion"] = np.ascontiguousarray(observed_parameter_features(fusion_cfg, s.universe)[s.test["fusion"]])  # the catalog view
    return s


def distil(s: Shipment) -> None:
    """The fast surrogate (`distill.py`): the teacher's knowledge in an MLP."""
    student, s.distillation = distill(s.models["surrogate"].surrogate, s.pc, s.teacher_cfg.data.universe, s.cfg.run.seed, s.log)
    s.models["fast_surrogate"] = student


def export_models(s: Shipment) -> None:
    """`export/<model>.onnx` with parity against PyTorch (refused above tolerance), `<model>.int8.onnx`."""
    s.export_dir.mkdir(parents=True, exist_ok=True)
    for name, model in s.models.items():
        x = s.features[name]
        path = export.export_onnx(model, name, torch.from_numpy(x[:2]), s.export_dir / f"{name}.onnx", s.pc.opset)
        s.sessions[name] = {"onnx": session(path, torch.get_num_threads())}
        s.reference[name] = export.run_torch(model, x)
        s.parity[name] = export.parity(name, s.reference[name], run_onnx(s.sessions[name]["onnx"], x), s.pc.parity_rtol, s.pc.parity_atol)
        if s.pc.int8:
            s.sessions[name]["onnx-int8"] = session(export.quantize_int8(path, s.export_dir / f"{name}.int8.onnx"), torch.get_num_threads())
        s.log(f"production: exported {name} ({path.stat().st_size / 1e6:.2f} MB), worst parity "
              f"{max(r['relative_error'] for r in s.parity[name].values()):.1e} of the output's scale")
    export.check_parity(s.parity)
    save_file({k: v.contiguous() for k, v in s.models["fast_surrogate"].state_dict().items()}, str(s.export_dir / "fast_surrogate.safetensors"))


def measure(s: Shipment) -> None:
    """Held-out science metrics of every model on every backend (torch, onnx, onnx-int8), and the int8 check."""
    truth_ts = s.universe.field("surface_temperature", s.test["surrogate"])
    labels = s.universe.parameters
    for name in s.models:
        runs = {"torch": s.reference[name], **{b: run_onnx(sess, s.features[name]) for b, sess in s.sessions[name].items()}}
        idx = s.test[name]
        state = labels["climate_state"].to_numpy()[idx]
        for backend, outputs in runs.items():
            s.heldout[f"{name}/{backend}"] = (fusion_metrics(outputs, state, labels["habitable_fraction"].to_numpy()[idx]) if name == "fusion"
                                              else map_metrics(outputs, truth_ts, state, labels["P0"].to_numpy()[idx]))
    s.int8_check = int8_check(s.heldout, s.pc) if s.pc.int8 else {}


def benchmark_speed(s: Shipment) -> None:
    """Latency p50/p95 at batch 1 and throughput per batch size of every model and backend; CLERO on the same planets."""
    import clero

    s.log("production: benchmarking (latency at batch 1, throughput per batch size) ...")
    for name, model in s.models.items():
        pool = s.features[name]
        s.timings[f"{name}/torch"] = benchmark.measure(torch_call(model), pool, s.pc)
        for backend, sess in s.sessions[name].items():
            s.timings[f"{name}/{backend}"] = benchmark.measure(lambda x, o=sess: o.run(None, {"features": x}), pool, s.pc)
    physical = s.universe.parameters[list(PARAMETER_NAMES)].to_numpy()[s.test["surrogate"][:s.pc.clero_planets]]
    s.clero_planets = len(physical)
    sizes = [b for b in s.pc.batch_sizes if b <= s.pc.clero_planets] or [1]
    s.timings["clero"] = benchmark.measure(benchmark.clero_call(clero.Emulator()), physical, s.pc, sizes, calls=min(s.pc.latency_calls, 50))
    s.speedup = benchmark.speedups({k: v for k, v in s.timings.items() if k.split("/")[0] in ("surrogate", "fast_surrogate")}, s.timings["clero"])


def validity(s: Shipment) -> None:
    """The predict procedure's error and calibrated σ inside the core domain and in each band beyond it (`validity.py`)."""
    quantiles, prior = atmosphere_quantiles(s.pc.atmosphere_draws, s.cfg.run.seed), universe_prior(s.teacher_cfg.data.universe)
    split = test_split(s.teacher_cfg, s.universe)

    def climate(x):  # the shipped surrogate as predict runs it (ONNX fp32)
        maps, logits = run_onnx(s.sessions["surrogate"]["onnx"], x)
        return maps, softmax(logits)

    s.validity = measure_validity(climate, s.teacher_cfg.model_copy(update={"components": s.cfg.components}), s.universe, split["test"],
                                  split["val"], quantiles, prior, s.log)
    s.validity_draws = {"atmosphere_quantiles": quantiles, "atmosphere_prior": prior}
    atomic_write_json(s.run_dir / "validity.json", s.validity)


def record(s: Shipment) -> tuple[dict, dict]:
    """export/manifest.json (what `predict` needs), benchmark.json, the throughput plot; returns (metrics, manifest)."""
    manifest = card.write_manifest(s.export_dir, s.cfg, s.source, s.teacher_dir, s.fusion.modalities, s.heldout["fusion/torch"]["habitable_fraction_rmse"],
                                   s.distillation, {**s.validity_draws, "validity": s.validity,
                                                    "int8_accepted": {name: check["ok"] for name, check in s.int8_check.items()}})
    metrics = {
        "test": {f"{k.replace('/', '_').replace('-', '_')}_{m}": v for k, ms in s.heldout.items() for m, v in ms.items() if m != "ci95"},
        "heldout": s.heldout, "parity": s.parity, "int8": s.int8_check, "distillation": s.distillation, "benchmark": s.timings,
        "speedup_over_clero": s.speedup, "test_planets": {k: int(len(v)) for k, v in s.test.items()}, "clero_planets": int(s.clero_planets),
        "export": {f: manifest["files"][f]["bytes"] for f in manifest["files"]}, "validity": s.validity,
    }
    atomic_write_json(s.run_dir / "benchmark.json", {"timings": s.timings, "speedup_over_clero": s.speedup})
    plot_throughput(s.timings, s.run_dir / PLOTS_DIR / "throughput_vs_batch_size.png")
    s.log(f"production: fast surrogate {s.speedup['fast_surrogate/onnx']['best_batch']:.0f}× CLERO at its best batch "
          f"(surface-T RMSE {s.heldout['fast_surrogate/onnx']['surface_temperature_rmse_K']:.2f} K)")
    return metrics, manifest


def predict_and_card(s: Shipment, metrics: dict, manifest: dict) -> None:
    """The configured catalog (or the fetched NASA cache) predicted; then MODEL_CARD.md, which shows its sanity table."""
    catalog = catalog_to_predict(s.cfg)
    if catalog is not None:
        result = predict_catalog(s.run_dir, input_csv=catalog if catalog != "nasa" else None, backend="onnx", log=s.log)
        metrics["predict"] = result.summary
    card.write_model_card(s.run_dir, s.cfg, s.source, s.teacher_dir, metrics, manifest)


def run_config(run: Path):
    return validate(read_yaml(run / rd.CONFIG_FILE), source=str(run / rd.CONFIG_FILE))


def test_split(cfg, universe) -> dict[str, np.ndarray]:
    split = cfg.data.split
    return planet_splits(len(universe), split.train, split.val, split.seed)


def test_planets(cfg, universe) -> np.ndarray:
    return test_split(cfg, universe)["test"]


def planet_features(universe, idx: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(parameter_features(universe.parameters.iloc[idx]))


def torch_call(model):
    def call(x):
        with torch.inference_mode():
            return model(torch.from_numpy(x))

    return call


def int8_check(heldout: dict, pc) -> dict:
    """int8 vs fp32 (ONNX) on the held-out metrics, against the stated tolerances."""
    out = {}
    for name in ("surrogate", "fast_surrogate"):
        delta = heldout[f"{name}/onnx-int8"]["surface_temperature_rmse_K"] - heldout[f"{name}/onnx"]["surface_temperature_rmse_K"]
        out[name] = {"surface_temperature_rmse_increase_K": delta, "tolerance_K": pc.int8_max_rmse_increase_K, "ok": delta <= pc.int8_max_rmse_increase_K}
    drop = heldout["fusion/onnx"]["accuracy"] - heldout["fusion/onnx-int8"]["accuracy"]
    out["fusion"] = {"accuracy_drop": drop, "tolerance": pc.int8_max_accuracy_drop, "ok": drop <= pc.int8_max_accuracy_drop}
    return out


def catalog_to_predict(cfg) -> str | None:
    """The catalog to predict at the end of the phase: the configured CSV, else the fetched cache, else none."""
    if cfg.components.production.catalog:
        return cfg.components.production.catalog
    return "nasa" if (cache_dir_of(cfg.data.archive.cache_dir) / "manifest.json").is_file() else None
