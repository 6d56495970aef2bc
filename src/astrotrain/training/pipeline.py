"""`--mode full`: the 5-phase pipeline, top to bottom (DESIGN.md, "The 5-phase pipeline").

    setup → for each phase: skip (finished earlier / not asked for / not built yet) or run → report

Layout of the run directory:

    config.yaml, overrides.yaml, provenance.json   the pipeline's resolved config and provenance
    pipeline.json                                  each phase's status, reason, folder, wall time
    phases/1-pretrain/<component>/                 one ordinary component run per enabled component
    phases/2-integrate/                            the fusion run (it reads phase 1's checkpoints)
    phases/3-llm/                                  the LLM run (it reads phase 2's fusion model)
    phases/4-galactic/                             the federation (it reads phase 2's fusion run and phase 1's encoders)
    phases/5-production/                           ONNX/int8 exports, fast surrogate, benchmark, MODEL_CARD.md, predictions/
    report.html, report/                           rewritten after every phase, and on failure

Every component run inside a phase is an ordinary run directory, so `--resume <pipeline run>`
skips finished components and phases and resumes an interrupted one from its newest verified
checkpoint (bitwise, like any run). `trainer.stop_after_steps` counts this process's steps
across the phases (time-sliced jobs). Phases that are not built yet are recorded as skipped
with the issue that builds them — never faked.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..config.schema import PHASE_NAMES, PRETRAIN_COMPONENTS, RESUME_SAFE_KEYS
from ..errors import UserError
from ..fsutil import atomic_write_json, atomic_write_text
from . import run_dir as rd
from .checkpoint import config_differences, config_fingerprint, read_manifest

PHASE_DIRS = {name: f"{i}-{name}" for i, name in enumerate(PHASE_NAMES, start=1)}
PHASE_COMPONENT = {"integrate": "multimodal", "llm": "llm", "galactic": "galactic", "production": "production"}  # the one component each later phase runs
NOT_BUILT: dict[str, str] = {}  # phases whose code does not exist yet: skipped with this reason


@dataclass
class PipelineResult:
    run_dir: Path
    status: dict
    finished: bool
    preempted: int | None = None


def is_pipeline_run(path: str | Path) -> bool:
    return (Path(path) / rd.PIPELINE_FILE).is_file()


def run_pipeline(cfg, overrides: dict, resume: str | None = None, force_config_change: bool = False) -> PipelineResult:
    # ---- setup: every check on user input before anything is written --------------------------
    pretrain = check_pipeline(cfg)
    config = cfg.model_dump(mode="json")
    if resume:
        root = Path(resume)
        if not is_pipeline_run(root):
            raise UserError(f"--resume {resume}: not a --mode full run directory (no {rd.PIPELINE_FILE}); resume a component run "
                            "without --mode full, or pass the pipeline's run directory")
        check_same_config(root, config, force_config_change)
        status = json.loads((root / rd.PIPELINE_FILE).read_text())
        if force_config_change:  # the run continues under the new config: record it
            atomic_write_text(root / rd.CONFIG_FILE, rd.dump_yaml(config))
    else:
        rd.check_writable(Path(cfg.run.output_dir))
        root = rd.new_run_dir(cfg.run.output_dir, cfg.run.name)
        status = _start(root, cfg, config, overrides)
    root = root.resolve()

    # ---- the phases, in order -------------------------------------------------------------------
    budget = _StepBudget(cfg.trainer.stop_after_steps)
    current = None
    try:
        for phase in PHASE_NAMES:
            current = phase
            record = status["phases"][phase]
            if record["status"] in ("finished", "skipped"):
                continue
            if phase not in cfg.pipeline.phases:
                _mark(record, "skipped", "not in pipeline.phases")
            elif phase in PHASE_COMPONENT and not getattr(cfg.components, PHASE_COMPONENT[phase]).enabled:
                _mark(record, "skipped", f"components.{PHASE_COMPONENT[phase]}.enabled is false")
            elif phase in NOT_BUILT:
                _mark(record, "skipped", NOT_BUILT[phase])
            else:
                started = time.perf_counter()
                record["status"] = "running"
                _save(root, status)
                components = pretrain if phase == "pretrain" else [PHASE_COMPONENT[phase]]
                done = all(_run_component(cfg, root, phase, name, overrides, budget, record, force_config_change) for name in components)
                record["wall_time_s"] = round(record.get("wall_time_s", 0.0) + time.perf_counter() - started, 1)
                if not done:
                    why = f"preempted by signal {budget.preempted}" if budget.preempted else "trainer.stop_after_steps reached"
                    _mark(record, "interrupted", f"{why}; resume with --resume {root}")
                    break
                _mark(record, "finished", None)
            _save(root, status)
            _write_report(root)
    except BaseException as exc:
        if isinstance(exc, UserError) and not resume and not any((root / rd.PHASES_DIR).rglob("*.ckpt")):
            rd.remove_run_dir(root)  # a user error found before anything was trained: leave nothing behind
            raise
        if current is not None:
            _mark(status["phases"][current], "failed", f"{type(exc).__name__}: {exc}".strip()[:500])
            _save(root, status)
            try:
                _write_report(root)
            except Exception:  # noqa: BLE001 - the original error is the one to show
                pass
        raise
    _save(root, status)
    _write_report(root)
    finished = all(p["status"] in ("finished", "skipped") for p in status["phases"].values())
    return PipelineResult(root, status, finished, budget.preempted)


# ---- phases and their component runs ---------------------------------------------------------------
def _run_component(cfg, root: Path, phase: str, name: str, overrides: dict, budget: "_StepBudget", record: dict, force: bool) -> bool:
    """Train (or resume, or skip as finished) one component of a phase; False when the step budget stopped it."""
    from .runner import train_component

    run = phase_run_dir(root, phase, name)
    entry = record.setdefault("components", {}).setdefault(name, {"dir": str(run.relative_to(root))})
    metrics = run / rd.METRICS_FILE
    if metrics.is_file() and "test" in json.loads(metrics.read_text()):
        entry["status"] = "finished"
        return True
    if budget.spent:
        return False
    ccfg = component_config(cfg, name, root, budget.left)
    checkpoint = newest_checkpoint(run / "checkpoints")
    if checkpoint is None and run.exists():
        rd.remove_run_dir(run)  # started but never checkpointed: start it again
    entry["status"] = "running"
    result = train_component(ccfg, overrides, resume=str(checkpoint) if checkpoint else None, force_config_change=force,
                             run_dir=None if checkpoint else run)
    budget.spend(result.steps_run)
    budget.preempted = budget.preempted or result.preempted
    entry["status"] = "finished" if result.finished else "interrupted"
    if result.finished:
        entry["wall_time_s"] = result.metrics["train"]["wall_time_s"]
    return result.finished


def phase_run_dir(root: Path, phase: str, component: str) -> Path:
    """phases/1-pretrain/<component>/ for phase 1; the phase folder itself for a one-component phase."""
    folder = root / rd.PHASES_DIR / PHASE_DIRS[phase]
    return folder / component if phase == "pretrain" else folder


def component_config(cfg, name: str, root: Path, stop_after_steps: int | None):
    """The config of one component run inside the pipeline: the pipeline's, pointed at `name`."""
    ccfg = cfg.model_copy(deep=True)
    ccfg.run.mode, ccfg.run.component, ccfg.run.name = "component", name, name
    ccfg.trainer.stop_after_steps = stop_after_steps
    epochs = getattr(cfg.pipeline.pretrain.max_epochs, name, None)
    if epochs is not None:
        section = getattr(ccfg.components, name)
        if "max_epochs" in type(section).model_fields:
            section.max_epochs = epochs
        else:  # a component that runs for trainer.max_epochs
            ccfg.trainer.max_epochs = epochs
    if name == "multimodal" and "pretrain" in cfg.pipeline.phases:
        ccfg.components.multimodal.pretrained = str(root)
    if name in ("llm", "galactic") and "integrate" in cfg.pipeline.phases:
        getattr(ccfg.components, name).fusion = str(root)
    if name == "production" and "integrate" in cfg.pipeline.phases:
        ccfg.components.production.source = str(root)
    return ccfg


def newest_checkpoint(folder: Path) -> Path | None:
    """The verified checkpoint with the most steps in `folder` (a killed run may lack last.ckpt)."""
    best, best_step = None, -1
    for path in sorted(folder.glob("*.ckpt")) if folder.is_dir() else []:
        try:
            step = read_manifest(path)["global_step"]
        except UserError:
            continue  # torn or foreign file: not resumable
        if step > best_step or (step == best_step and path.name == "last.ckpt"):
            best, best_step = path, step
    return best


class _StepBudget:
    """`trainer.stop_after_steps` across the pipeline: steps this process may still take (None = no limit)."""

    def __init__(self, limit: int | None):
        self.left = limit
        self.preempted: int | None = None  # a signal stopped a component: no further one starts

    @property
    def spent(self) -> bool:
        return self.preempted is not None or (self.left is not None and self.left <= 0)

    def spend(self, steps: int) -> None:
        if self.left is not None:
            self.left -= steps


# ---- checks and bookkeeping ------------------------------------------------------------------------
def check_pipeline(cfg) -> list[str]:
    """What --mode full would refuse, checked before anything is written; returns the phase-1 components."""
    if cfg.trainer.devices * cfg.trainer.num_nodes > 1:
        raise UserError("--mode full runs its phases in one process; train on several devices one component at a time "
                        "(python train.py --component NAME --distributed ...), or set trainer.devices=1 trainer.num_nodes=1")
    pretrain = [name for name in PRETRAIN_COMPONENTS if getattr(cfg.components, name).enabled]
    _check_fusion_inputs(cfg, pretrain)
    if "galactic" in cfg.pipeline.phases and cfg.components.galactic.enabled:
        from ..components.galactic.module import check_backend

        check_backend(cfg.components.galactic)  # before phases 1-3 run, not after
    if "production" in cfg.pipeline.phases and cfg.components.production.enabled:
        from ..components.production.module import check_packages

        check_packages()
    for name, key in (("llm", "fusion"), ("galactic", "fusion"), ("production", "source")):
        section = getattr(cfg.components, name)
        if name in cfg.pipeline.phases and section.enabled and "integrate" not in cfg.pipeline.phases and getattr(section, key) is None:
            raise UserError(f"pipeline.phases keeps {name} but leaves out integrate: set components.{name}.{key}=<a --mode full run with "
                            "finished phase 2>, or add integrate to pipeline.phases")
    return pretrain


def _check_fusion_inputs(cfg, pretrain: list[str]) -> None:
    from ..components.multimodal.config import MODALITIES, RETRIEVED_THROUGH

    if "integrate" not in cfg.pipeline.phases or not cfg.components.multimodal.enabled:
        return
    if "pretrain" not in cfg.pipeline.phases:
        if cfg.components.multimodal.pretrained is None:
            raise UserError("pipeline.phases leaves out pretrain but keeps integrate: set components.multimodal.pretrained=<a --mode full run "
                            "with finished phase 1>, or add pretrain to pipeline.phases")
        from ..components.multimodal.pretrained import pretrained_components

        pretrained_components(cfg)  # every lent run exists, finished, on this universe and split
        return
    off = [f"{m} (components.{c}.enabled is false)" for m in cfg.components.multimodal.modalities
           for c in (MODALITIES[m], RETRIEVED_THROUGH.get(m)) if c is not None and c not in pretrain]
    if off:
        raise UserError("components.multimodal.modalities fuses " + ", ".join(off)
                        + ": enable those components or drop the modalities from components.multimodal.modalities")


def check_same_config(root: Path, config: dict, force: bool) -> None:
    """Refuse to resume a pipeline run under a different config (up to resume-safe keys) unless forced."""
    old = json.loads(json.dumps(_read_yaml(root / rd.CONFIG_FILE)))
    if config_fingerprint(old, RESUME_SAFE_KEYS) != config_fingerprint(config, RESUME_SAFE_KEYS) and not force:
        diffs = [d for d in config_differences(old, config) if not d.startswith(RESUME_SAFE_KEYS)]
        shown = "\n".join(f"  - {d}" for d in diffs[:20]) or "  (fingerprints differ)"
        raise UserError(f"pipeline run {root} was started with a different config:\n{shown}\n"
                        "resume with the original settings, or pass --force-config-change to resume anyway")


def _read_yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


def _start(root: Path, cfg, config: dict, overrides: dict) -> dict:
    from ..universe.generate import universe_path
    from .provenance import collect_provenance

    atomic_write_text(root / rd.CONFIG_FILE, rd.dump_yaml(config))
    atomic_write_text(root / rd.OVERRIDES_FILE, rd.dump_yaml(overrides))
    atomic_write_json(root / rd.PROVENANCE_FILE, collect_provenance(cfg.run.seed, {"universe": {"path": str(universe_path(cfg.data.universe))}}))
    status = {"phases": {name: {"dir": f"{rd.PHASES_DIR}/{PHASE_DIRS[name]}", "status": "pending", "reason": None} for name in PHASE_NAMES}}
    _save(root, status)
    return status


def _mark(record: dict, state: str, reason: str | None) -> None:
    record["status"], record["reason"] = state, reason


def _save(root: Path, status: dict) -> None:
    atomic_write_json(root / rd.PIPELINE_FILE, status)


def _write_report(root: Path) -> None:
    from ..reporting.html import write_report

    write_report(root)
