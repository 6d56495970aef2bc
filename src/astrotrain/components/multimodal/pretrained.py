"""Finding the pretrained component runs fusion builds on, and borrowing their encoders.

A `--mode full` run keeps each phase-1 component run in `phases/1-pretrain/<component>/`;
`components.multimodal.pretrained` names that run (the pipeline sets it). Each component's
`encoder.py` (its spec's `encoder`) says how to read its modality from the universe
(`modality_inputs`) and how to rebuild its pretrained encoder from the checkpoint (`lend`).
Every component is rebuilt with the config it was trained with (its run's config.yaml).
A modality whose inputs another component makes (the gases: retrieved by the spectral run,
its spec's `lends.retrieved_through`) gets that run as `upstream`, so its inputs are the retrieval's, not the truth.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

from ...config.loader import read_yaml, validate
from ...config.registry import fusion_modalities, get_component
from ...errors import UserError
from ...runs import layout as rd
from ...runs.checkpoints import load_verified
from ..spectral.retrieval import Retriever

NOT_CONTENT = {"cache_dir", "clero_batch_size"}  # universe settings that do not change which planets it holds


@dataclass
class PretrainedComponent:
    modality: str
    component: str
    run_dir: Path
    cfg: object  # the component run's own MasterConfig
    lender: object  # its encoder module: MODALITY, modality_inputs(cfg, universe, upstream), lend(cfg, state, normalisation)
    upstream: dict | None = None  # component → PretrainedComponent whose run makes this modality's inputs

    def state(self) -> dict:
        return load_verified(self.run_dir / "checkpoints" / "last.ckpt")["state_dict"]

    def lend(self):
        normalisation = json.loads((self.run_dir / rd.NORMALISATION_FILE).read_text())
        return self.lender.lend(self.cfg, self.state(), normalisation)

    def retriever(self):
        """The spectral run's trained retrieval (for a source that is a spectral run)."""
        return Retriever(self.cfg, self.state())

    def modality_inputs(self, universe) -> dict:
        return self.lender.modality_inputs(self.cfg, universe, self.upstream or {})


def component_run(root: Path, component: str) -> Path:
    return root / rd.PHASES_DIR / rd.PRETRAIN_PHASE / component


def pretrained_components(cfg) -> dict[str, PretrainedComponent]:
    """{modality: its finished pretrained run}, or one error listing every modality that has none."""
    mc = cfg.components.multimodal
    if mc.pretrained is None:
        raise UserError("components.multimodal.pretrained is not set: fusion needs pretrained encoders — run the whole pipeline "
                        "with `python train.py --mode full`, or set components.multimodal.pretrained=<run directory of a --mode full run>")

    lenders = fusion_modalities()
    root = Path(mc.pretrained)
    found, missing, mismatched = {}, [], []
    for modality in mc.modalities:
        component = lenders[modality].name
        source = _finished_run(root, modality, modality, component, cfg, missing, mismatched)
        if source is None:
            continue
        through = lenders[modality].lends.retrieved_through
        if through is not None:
            upstream = _finished_run(root, through, f"{modality} (retrieved by {through})", through, cfg, missing, mismatched)
            source.upstream = {through: upstream} if upstream is not None else None
        found[modality] = source
    if mismatched:  # its train planets could be fusion's test planets
        raise UserError("fusion must use the universe and planet split its encoders were trained on: " + "; ".join(mismatched)
                        + ". Set data.universe and data.split as in those runs, or pretrain on this data (python train.py --mode full)")
    if missing:
        raise UserError("fusion cannot borrow encoders for: " + "; ".join(missing)
                        + ". Finish phase 1 (python train.py --resume <run>) or drop them from components.multimodal.modalities")
    return found


def _finished_run(root: Path, modality: str, what: str, component: str, cfg, missing: list, mismatched: list) -> PretrainedComponent | None:
    """The finished phase-1 run of `component` under `root`, checked to share fusion's universe and split."""
    run = component_run(root, component)
    metrics = run / rd.METRICS_FILE
    if not (metrics.is_file() and "test" in json.loads(metrics.read_text())):
        missing.append(f"{what} ({run} has no finished {component} run)")
        return None
    spec = get_component(component)
    run_cfg = validate(read_yaml(run / rd.CONFIG_FILE), source=str(run / rd.CONFIG_FILE))
    if spec.reads_universe(run_cfg):
        for key in ("universe", "split"):
            recipe = [getattr(c.data, key).model_dump(exclude=NOT_CONTENT) for c in (run_cfg, cfg)]
            if recipe[0] != recipe[1]:
                mismatched.append(f"{run} was trained with different data.{key}")
    return PretrainedComponent(modality, component, run, run_cfg, importlib.import_module(spec.encoder_module))


def check_before_pipeline(cfg) -> None:
    """What `--mode full` refuses about fusion's inputs before phase 1: a fused modality whose lending
    component is disabled, or (phase 1 left out) a `pretrained` run that cannot lend them."""
    if "integrate" not in cfg.pipeline.phases or not cfg.components.multimodal.enabled:
        return
    if "pretrain" not in cfg.pipeline.phases:
        if cfg.components.multimodal.pretrained is not None:
            pretrained_components(cfg)  # every lent run exists, finished, on this universe and split
        return
    lenders = fusion_modalities()
    off = [f"{m} (components.{c}.enabled is false)" for m in cfg.components.multimodal.modalities
           for c in (lenders[m].name, lenders[m].lends.retrieved_through) if c is not None and not getattr(cfg.components, c).enabled]
    if off:
        raise UserError("components.multimodal.modalities fuses " + ", ".join(off)
                        + ": enable those components or drop the modalities from components.multimodal.modalities")
