"""Phase 5, production: what it refuses before anything is written, then its stages top to bottom
(`stages.py`): setup → distil → export + parity → int8 → held-out metrics → benchmark → validity →
manifest → predict the catalog → model card.

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

from ...config.loader import read_yaml, validate
from ...errors import UserError
from ...runs import layout as rd
from ...runs.run import open_run
from ..multimodal.pretrained import NOT_CONTENT, component_run


def check(cfg) -> None:
    """What the phase refuses before anything is written."""
    pc = cfg.components.production
    if pc.source is None:
        raise UserError("components.production.source is not set: production ships the models of a --mode full run — run "
                        "`python train.py --mode full`, or set components.production.source=<run directory with finished phases 1 and 2>")
    check_environment(cfg)
    source = open_run(Path(pc.source))
    fusion = source.component_dir("integrate")
    metrics = fusion / rd.METRICS_FILE
    if not (metrics.is_file() and "test" in json.loads(metrics.read_text())):
        raise UserError(f"components.production.source={pc.source} has no finished fusion phase (phase 2, {fusion}): finish it with "
                        f"`python train.py --resume {pc.source}`, or point components.production.source at a run whose phases 1 and 2 finished")
    source.fusion_config()
    surrogate_run(cfg)
    if pc.catalog and not Path(pc.catalog).is_file():
        raise UserError(f"components.production.catalog={pc.catalog}: no such file; give a NASA Exoplanet Archive CSV export, or null")


def check_environment(cfg) -> None:
    """The export and runtime packages (checked by the pipeline before phase 1, too)."""
    for package in ("onnx", "onnxruntime", "onnxscript"):
        if importlib.util.find_spec(package) is None:
            raise UserError(f"the production phase needs {package}: pip install {package} (an astrotrain dependency: `make install` installs it)")


def surrogate_run(cfg) -> Path:
    """The surrogate run to ship: components.production.surrogate, else the source's phase 1 surrogate (checked finished, same data)."""
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
    """Phase 5 top to bottom (`stages.py`); `universe` is unused: the source run's own is read."""
    from . import stages  # torch and onnx: not for the checks above, which `--validate-only` runs

    shipment = stages.setup(cfg, run_dir, surrogate_run(cfg))
    stages.distil(shipment)
    stages.export_models(shipment)
    stages.measure(shipment)
    stages.benchmark_speed(shipment)
    stages.validity(shipment)
    metrics, manifest = stages.record(shipment)
    stages.predict_and_card(shipment, metrics, manifest)
    return metrics
