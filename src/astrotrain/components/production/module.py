"""Phase 5, production, top to bottom: setup → distil → export + parity → int8 → held-out metrics →
benchmark → model card → predict the catalog.

    setup      the shipped models from the source run: phase 1's surrogate (the teacher), phase 2's
               fusion read from the parameters alone; the held-out test planets of each
    distil     the fast surrogate (`distill.py`)
    export     `export/<model>.onnx` + parity against PyTorch (refused above tolerance), `<model>.int8.onnx`
    metrics    held-out science metrics of every model on every backend (torch, onnx, onnx-int8)
    benchmark  latency p50/p95 at batch 1 and throughput at the best batch; CLERO on the same planets
    validity   the predict procedure's error and calibrated σ inside the core domain and in each band
               between the core and the extended domain (`validity.py`)
    manifest   export/manifest.json (what `predict` needs, sha256 of every file)
    predict    `components.production.catalog` (or the `data fetch nasa` cache) → predictions/
    card       MODEL_CARD.md, with the validity table and the literature sanity table
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from ...errors import UserError
from ...training import run_dir as rd

EXPORT_DIR = "export"
MANIFEST = "manifest.json"
BACKENDS = ("torch", "onnx", "onnx-int8")


def check(cfg) -> None:
    """What the phase refuses before anything is written."""
    pc = cfg.components.production
    if pc.source is None:
        raise UserError("components.production.source is not set: production ships the models of a --mode full run — run "
                        "`python train.py --mode full`, or set components.production.source=<run directory with finished phases 1 and 2>")
    check_packages()
    from ...api import load_run

    source = load_run(Path(pc.source))
    fusion = source.component_dir("integrate")
    metrics = fusion / rd.METRICS_FILE
    if not (metrics.is_file() and "test" in json.loads(metrics.read_text())):
        raise UserError(f"components.production.source={pc.source} has no finished fusion phase (phase 2, {fusion}): finish it with "
                        f"`python train.py --resume {pc.source}`, or point components.production.source at a run whose phases 1 and 2 finished")
    source.fusion_config()
    surrogate_run(cfg)
    if pc.catalog and not Path(pc.catalog).is_file():
        raise UserError(f"components.production.catalog={pc.catalog}: no such file; give a NASA Exoplanet Archive CSV export, or null")


def check_packages() -> None:
    for package in ("onnx", "onnxruntime", "onnxscript"):
        if importlib.util.find_spec(package) is None:
            raise UserError(f"the production phase needs {package}: pip install {package} (an astrotrain dependency: `make install` installs it)")


def surrogate_run(cfg) -> Path:
    """The surrogate run to ship: components.production.surrogate, else the source's phase 1 surrogate (checked finished, same data)."""
    from ...config.loader import read_yaml, validate
    from ..multimodal.pretrained import NOT_CONTENT, component_run

    pc = cfg.components.production
    run = Path(pc.surrogate) if pc.surrogate else component_run(Path(pc.source), "surrogate")
    metrics = run / rd.METRICS_FILE
    if not (metrics.is_file() and "test" in json.loads(metrics.read_text())):
        key = "components.production.surrogate" if pc.surrogate else "components.production.source"
        raise UserError(f"{key}: {run} has no finished surrogate run; finish it (python train.py --resume <run>) or point {key} at one")
    own = validate(read_yaml(run / rd.CONFIG_FILE), source=str(run / rd.CONFIG_FILE))
    source_cfg = validate(read_yaml(Path(pc.source) / rd.CONFIG_FILE), source=str(Path(pc.source) / rd.CONFIG_FILE))
    for key in ("universe", "split"):
        if getattr(own.data, key).model_dump(exclude=NOT_CONTENT) != getattr(source_cfg.data, key).model_dump(exclude=NOT_CONTENT):
            raise UserError(f"components.production.surrogate={run} was trained with different data.{key} than the source run; "
                            "its test planets could be the source's training planets — train it on the same universe and split")
    return run


def train(cfg, universe, run_dir: Path) -> dict:
    import torch

    from ...api import load_run
    from ...data.observation import observed_parameter_features
    from ...training.checkpoint import load_verified
    from ..multimodal.data import fusion_splits
    from ..multimodal.pretrained import pretrained_components
    from ..surrogate import encoder as surrogate_encoder
    from . import benchmark, card, export
    from .distill import distill
    from ...fsutil import atomic_write_json
    from ...reporting.plots import PLOTS_DIR
    from .heldout import fusion_metrics, map_metrics
    from .report import plot_throughput
    from .runtime import run_onnx, session
    from .model import FusionFromParameters, SurfaceTemperatureModel

    pc = cfg.components.production
    log = print
    # ---- setup: the models to ship and their held-out planets ------------------------------------
    source = load_run(Path(pc.source))
    teacher_dir = surrogate_run(cfg)
    teacher_cfg = _config(teacher_dir)
    teacher = surrogate_encoder.lend(teacher_cfg, load_verified(teacher_dir / "checkpoints" / "last.ckpt")["state_dict"], {}).pretrained.eval()
    fusion = source.fusion()
    if "parameters" not in fusion.modalities:
        raise UserError(f"the fusion model of {pc.source} does not read planet parameters (components.multimodal.modalities); "
                        "production ships a model that predicts archive planets from their parameters")
    models = {"surrogate": SurfaceTemperatureModel(teacher).eval(),
              "fusion": FusionFromParameters(fusion.module.model, fusion.modalities.index("parameters")).eval()}
    universe = source.universe()
    fusion_cfg = source.fusion_config()
    test = {"surrogate": test_planets(teacher_cfg, universe),
            "fusion": fusion_splits(fusion_cfg, universe, pretrained_components(fusion_cfg))[0]["test"]}
    test["fast_surrogate"] = test["surrogate"]
    features = {name: planet_features(universe, idx) for name, idx in test.items()}
    features["fusion"] = np.ascontiguousarray(observed_parameter_features(fusion_cfg, universe)[test["fusion"]])  # what fusion reads: the catalog view

    # ---- distil the fast surrogate ----------------------------------------------------------------
    student, distillation = distill(teacher, pc, teacher_cfg.data.universe, cfg.run.seed, log)
    models["fast_surrogate"] = student

    # ---- export, parity, int8 ----------------------------------------------------------------------
    out = run_dir / EXPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    parity, sessions, reference = {}, {}, {}
    for name, model in models.items():
        x = features[name]
        path = export.export_onnx(model, name, torch.from_numpy(x[:2]), out / f"{name}.onnx", pc.opset)
        sessions[name] = {"onnx": session(path, torch.get_num_threads())}
        reference[name] = export.run_torch(model, x)
        parity[name] = export.parity(name, reference[name], run_onnx(sessions[name]["onnx"], x), pc.parity_rtol, pc.parity_atol)
        if pc.int8:
            sessions[name]["onnx-int8"] = session(export.quantize_int8(path, out / f"{name}.int8.onnx"), torch.get_num_threads())
        log(f"production: exported {name} ({path.stat().st_size / 1e6:.2f} MB), worst parity "
            f"{max(r['relative_error'] for r in parity[name].values()):.1e} of the output's scale")
    export.check_parity(parity)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in student.state_dict().items()}, str(out / "fast_surrogate.safetensors"))

    # ---- held-out science metrics, per model and backend --------------------------------------------
    truth_ts = universe.field("surface_temperature", test["surrogate"])
    labels = universe.parameters
    heldout = {}
    for name in models:
        runs = {"torch": reference[name], **{b: run_onnx(s, features[name]) for b, s in sessions[name].items()}}
        for backend, outputs in runs.items():
            if name == "fusion":
                idx = test["fusion"]
                heldout[f"{name}/{backend}"] = fusion_metrics(outputs, labels["climate_state"].to_numpy()[idx], labels["habitable_fraction"].to_numpy()[idx])
            else:
                idx = test[name]
                heldout[f"{name}/{backend}"] = map_metrics(outputs, truth_ts, labels["climate_state"].to_numpy()[idx], labels["P0"].to_numpy()[idx])
    int8_check = _int8_check(heldout, pc) if pc.int8 else {}

    # ---- benchmark: every model on every backend, and CLERO, on the same test planets -------------
    import clero

    from ...universe.sampling import PARAMETER_NAMES

    log("production: benchmarking (latency at batch 1, throughput per batch size) ...")
    timings = {}
    for name, model in models.items():
        pool = features[name]
        timings[f"{name}/torch"] = benchmark.measure(torch_call(model), pool, pc)
        for backend, sess in sessions[name].items():
            timings[f"{name}/{backend}"] = benchmark.measure(lambda x, s=sess: s.run(None, {"features": x}), pool, pc)
    physical = labels[list(PARAMETER_NAMES)].to_numpy()[test["surrogate"][:pc.clero_planets]]
    clero_sizes = [b for b in pc.batch_sizes if b <= pc.clero_planets] or [1]
    timings["clero"] = benchmark.measure(benchmark.clero_call(clero.Emulator()), physical, pc, clero_sizes, calls=min(pc.latency_calls, 50))
    speedup = benchmark.speedups({k: v for k, v in timings.items() if k.split("/")[0] in ("surrogate", "fast_surrogate")}, timings["clero"])

    # ---- validity: the predict procedure inside the core domain and in the bands beyond it ------------
    from .draws import atmosphere_quantiles, universe_prior
    from .predictors import softmax
    from .validity import measure_validity

    quantiles, prior = atmosphere_quantiles(pc.atmosphere_draws, cfg.run.seed), universe_prior(teacher_cfg.data.universe)
    split = test_split(teacher_cfg, universe)

    def climate(x):  # the shipped surrogate as predict runs it (ONNX fp32)
        maps, logits = run_onnx(sessions["surrogate"]["onnx"], x)
        return maps, softmax(logits)

    validity = measure_validity(climate, teacher_cfg.model_copy(update={"components": cfg.components}), universe, split["test"], split["val"],
                                quantiles, prior, log)
    atomic_write_json(run_dir / "validity.json", validity)

    # ---- the record: manifest (for predict), metrics, model card ------------------------------------
    fusion_rmse = heldout["fusion/torch"]["habitable_fraction_rmse"]
    manifest = card.write_manifest(out, cfg, source, teacher_dir, fusion.modalities, fusion_rmse, distillation,
                                   {"atmosphere_quantiles": quantiles, "atmosphere_prior": prior, "validity": validity,
                                    "int8_accepted": {name: check["ok"] for name, check in int8_check.items()}})
    metrics = {
        "test": {f"{k.replace('/', '_').replace('-', '_')}_{m}": v for k, ms in heldout.items() for m, v in ms.items() if m != "ci95"},
        "heldout": heldout,
        "parity": parity, "int8": int8_check, "distillation": distillation, "benchmark": timings, "speedup_over_clero": speedup,
        "test_planets": {k: int(len(v)) for k, v in test.items()}, "clero_planets": int(len(physical)),
        "export": {f: manifest["files"][f]["bytes"] for f in manifest["files"]}, "validity": validity,
    }
    atomic_write_json(run_dir / "benchmark.json", {"timings": timings, "speedup_over_clero": speedup})
    plot_throughput(timings, run_dir / PLOTS_DIR / "throughput_vs_batch_size.png")
    log(f"production: fast surrogate {speedup['fast_surrogate/onnx']['best_batch']:.0f}× CLERO at its best batch "
        f"(surface-T RMSE {heldout['fast_surrogate/onnx']['surface_temperature_rmse_K']:.2f} K)")

    # ---- predict the catalog, then the card (it shows the literature sanity table) -----------------------
    catalog = _catalog(cfg)
    if catalog is not None:
        from .predict import predict_catalog

        result = predict_catalog(run_dir, input_csv=catalog if catalog != "nasa" else None, backend="onnx", log=log)
        metrics["predict"] = result.summary
    card.write_model_card(run_dir, cfg, source, teacher_dir, metrics, manifest)
    return metrics


def _config(run: Path):
    from ...config.loader import read_yaml, validate

    return validate(read_yaml(run / rd.CONFIG_FILE), source=str(run / rd.CONFIG_FILE))


def test_split(cfg, universe) -> dict[str, np.ndarray]:
    from ...data.splits import planet_splits

    split = cfg.data.split
    return planet_splits(len(universe), split.train, split.val, split.seed)


def test_planets(cfg, universe) -> np.ndarray:
    return test_split(cfg, universe)["test"]


def planet_features(universe, idx: np.ndarray) -> np.ndarray:
    from ...data.features import parameter_features

    return np.ascontiguousarray(parameter_features(universe.parameters.iloc[idx]))


def torch_call(model):
    import torch

    def call(x):
        with torch.inference_mode():
            return model(torch.from_numpy(x))

    return call


def _int8_check(heldout: dict, pc) -> dict:
    """int8 vs fp32 (ONNX) on the held-out metrics, against the stated tolerances."""
    out = {}
    for name in ("surrogate", "fast_surrogate"):
        delta = heldout[f"{name}/onnx-int8"]["surface_temperature_rmse_K"] - heldout[f"{name}/onnx"]["surface_temperature_rmse_K"]
        out[name] = {"surface_temperature_rmse_increase_K": delta, "tolerance_K": pc.int8_max_rmse_increase_K, "ok": delta <= pc.int8_max_rmse_increase_K}
    drop = heldout["fusion/onnx"]["accuracy"] - heldout["fusion/onnx-int8"]["accuracy"]
    out["fusion"] = {"accuracy_drop": drop, "tolerance": pc.int8_max_accuracy_drop, "ok": drop <= pc.int8_max_accuracy_drop}
    return out


def _catalog(cfg) -> str | None:
    """The catalog to predict at the end of the phase: the configured CSV, else the fetched cache, else none."""
    from ...data.nasa import cache_dir_of

    if cfg.components.production.catalog:
        return cfg.components.production.catalog
    return "nasa" if (cache_dir_of(cfg.data.archive.cache_dir) / "manifest.json").is_file() else None
