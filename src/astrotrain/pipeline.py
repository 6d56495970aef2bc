"""`--mode full`: the 5-phase pipeline, top to bottom (DESIGN.md, "The 5-phase pipeline").

    setup  every check on user input (and each phase component's preflight) before anything is written
    phases for each phase of `phase_graph()`: skip (finished earlier / not asked for / disabled) or run its
           components, each an ordinary run directory, handing it the earlier phases' runs it consumes
    report report.html after every phase, and on failure

The phase graph is declared by the component specs: a phase trains the components whose spec names it,
consumes the phases their specs' `consumes` name, and produces what their specs' `produces` say.

    config.yaml, overrides.yaml, provenance.json   the pipeline's resolved config and provenance
    pipeline.json                                  each phase's status, reason, folder, wall time
    phases/1-pretrain/<component>/                 one ordinary component run per enabled component
    phases/2-integrate/ … phases/5-production/     the one component run of each later phase
    report.html, report/                           rewritten after every phase, and on failure

`--resume <pipeline run>` skips finished components and phases and resumes an interrupted one from its
newest verified checkpoint (bitwise, like any run). `trainer.stop_after_steps` counts this process's
steps across the phases (time-sliced jobs).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from .config.registry import phase_components, specs
from .config.schema import PHASE_NAMES, RESUME_SAFE_KEYS, MasterConfig
from .engine.provenance import collect_provenance
from .engine.runner import train_component
from .errors import UserError
from .fsutil import atomic_write_json, atomic_write_text
from .report.html import write_report
from .runs import layout as rd
from .runs.checkpoints import config_differences, config_fingerprint, newest_checkpoint, same_config_but_newer_schema
from .runs.layout import PHASE_DIRS, is_pipeline_run, phase_run_dir
from .universe.generate import universe_path


@dataclass(frozen=True)
class Phase:
    name: str
    components: tuple[str, ...]  # trained in this order
    consumes: tuple[str, ...]  # earlier phases whose run directories it reads
    produces: tuple[str, ...]


def phase_graph() -> list[Phase]:
    """The five phases as the component specs declare them."""
    graph = []
    for name in PHASE_NAMES:
        members = [specs()[c] for c in phase_components(name)]
        consumed = {phase for spec in members for phase in spec.consumes.values()}
        graph.append(Phase(name, tuple(s.name for s in members), tuple(p for p in PHASE_NAMES if p in consumed),
                           tuple(dict.fromkeys(item for s in members for item in s.produces))))
    return graph


@dataclass
class PipelineResult:
    run_dir: Path
    status: dict
    finished: bool
    preempted: int | None = None


def run_pipeline(cfg, overrides: dict, resume: str | None = None, force_config_change: bool = False) -> PipelineResult:
    # ---- setup: every check on user input before anything is written --------------------------
    check_pipeline(cfg)
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
        root = rd.new_run_dir(cfg.run.output_dir, cfg.run.directory_name)
        status = _start(root, cfg, config, overrides)
    root = root.resolve()

    # ---- the phases, in order -------------------------------------------------------------------
    budget = _StepBudget(cfg.trainer.stop_after_steps)
    current = None
    try:
        for phase in phase_graph():
            current = phase.name
            record = status["phases"][phase.name]
            if record["status"] in ("finished", "skipped"):
                continue
            enabled = [name for name in phase.components if getattr(cfg.components, name).enabled]
            if phase.name not in cfg.pipeline.phases:
                _mark(record, "skipped", "not in pipeline.phases")
            elif not enabled:
                _mark(record, "skipped", " and ".join(f"components.{name}.enabled is false" for name in phase.components))
            else:
                started = time.perf_counter()
                record["status"] = "running"
                _save(root, status)
                done = all(_run_component(cfg, root, phase.name, name, overrides, budget, record, force_config_change) for name in enabled)
                record["wall_time_s"] = round(record.get("wall_time_s", 0.0) + time.perf_counter() - started, 1)
                if not done:
                    why = f"preempted by signal {budget.preempted}" if budget.preempted else "trainer.stop_after_steps reached"
                    _mark(record, "interrupted", f"{why}; resume with --resume {root}")
                    break
                _mark(record, "finished", None)
            _save(root, status)
            write_report(root)
    except BaseException as exc:
        if isinstance(exc, UserError) and not resume and not any((root / rd.PHASES_DIR).rglob("*.ckpt")):
            rd.remove_run_dir(root)  # a user error found before anything was trained: leave nothing behind
            raise
        if current is not None:
            _mark(status["phases"][current], "failed", f"{type(exc).__name__}: {exc}".strip()[:500])
            _save(root, status)
            try:
                write_report(root)
            except Exception:  # noqa: BLE001 - the original error is the one to show
                pass
        raise
    _save(root, status)
    write_report(root)
    finished = all(p["status"] in ("finished", "skipped") for p in status["phases"].values())
    return PipelineResult(root, status, finished, budget.preempted)


# ---- phases and their component runs ---------------------------------------------------------------
def _run_component(cfg, root: Path, phase: str, name: str, overrides: dict, budget: "_StepBudget", record: dict, force: bool) -> bool:
    """Train (or resume, or skip as finished) one component of a phase; False when the step budget stopped it."""
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
    started = time.perf_counter()
    result = train_component(ccfg, overrides, resume=str(checkpoint) if checkpoint else None, force_config_change=force,
                             run_dir=None if checkpoint else run)
    entry["total_s"] = round(entry.get("total_s", 0.0) + time.perf_counter() - started, 1)  # setup, training, evaluation, report
    budget.spend(result.steps_run)
    budget.preempted = budget.preempted or result.preempted
    entry["status"] = "finished" if result.finished else "interrupted"
    one_off = result.metrics["train"].get("one_off_s", {})
    for step, seconds in one_off.items():  # the phase's share of one-off work (a universe generated, ...)
        record.setdefault("one_off_s", {})[step] = round(record.get("one_off_s", {}).get(step, 0.0) + seconds, 1)
    if result.finished:
        entry["wall_time_s"] = result.metrics["train"]["wall_time_s"]
        entry["one_off_s"] = one_off
    return result.finished


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
    for key, phase in specs()[name].consumes.items():  # the hand-off: the earlier phase's runs lie in this run directory
        if phase in cfg.pipeline.phases:
            setattr(getattr(ccfg.components, name), key, str(root))
    return ccfg


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
def check_pipeline(cfg) -> None:
    """What --mode full would refuse, checked before anything is written."""
    if cfg.trainer.devices * cfg.trainer.num_nodes > 1:
        raise UserError("--mode full runs its phases in one process; train on several devices one component at a time "
                        "(python train.py --component NAME --distributed ...), or set trainer.devices=1 trainer.num_nodes=1")
    for phase in phase_graph():
        for name in phase.components:
            spec, section = specs()[name], getattr(cfg.components, name)
            if phase.name not in cfg.pipeline.phases or not section.enabled:
                continue
            for key, consumed in spec.consumes.items():
                if consumed not in cfg.pipeline.phases and getattr(section, key) is None:
                    raise UserError(f"pipeline.phases keeps {phase.name} but leaves out {consumed}: set components.{name}.{key}=<a --mode full "
                                    f"run with a finished {consumed} phase>, or add {consumed} to pipeline.phases")
            if spec.preflight:
                spec.resolve("preflight")(cfg)  # before phase 1 runs, not when its phase comes


def check_same_config(root: Path, config: dict, force: bool) -> None:
    """Refuse to resume a pipeline run under a different config (up to resume-safe keys) unless forced."""
    old = json.loads(json.dumps(_read_yaml(root / rd.CONFIG_FILE)))
    old_fingerprint = config_fingerprint(old, RESUME_SAFE_KEYS)
    newer_schema = same_config_but_newer_schema(old, old_fingerprint, config, RESUME_SAFE_KEYS, MasterConfig().model_dump(mode="json"))
    if old_fingerprint != config_fingerprint(config, RESUME_SAFE_KEYS) and not newer_schema and not force:
        diffs = [d for d in config_differences(old, config) if not d.startswith(RESUME_SAFE_KEYS)]
        shown = "\n".join(f"  - {d}" for d in diffs[:20]) or "  (fingerprints differ)"
        raise UserError(f"pipeline run {root} was started with a different config:\n{shown}\n"
                        "resume with the original settings, or pass --force-config-change to resume anyway")


def _read_yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


def _start(root: Path, cfg, config: dict, overrides: dict) -> dict:
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
