"""Training one component, top to bottom: setup → train → evaluate → save.

Everything a user can get wrong (config, checkpoint, output folder) is checked before the
run directory exists; if setup fails after it was created, it is removed again.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

from ..config.schema import RESUME_SAFE_KEYS
from ..errors import UserError
from ..fsutil import atomic_write_json, atomic_write_text
from ..hashing import sha256_json
from ..registry import get_component
from . import run_dir as rd
from .checkpoint import config_differences, config_fingerprint, make_checkpoint_io, read_manifest, resolve_resume_target, run_dir_of

RUN_DIR_ENV = "ASTROTRAIN_RUN_DIR"  # set for DDP worker processes, which join rank 0's run directory


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict
    finished: bool
    steps_run: int = 0  # optimiser steps this process took (a resumed run started later)
    preempted: int | None = None  # the signal (SIGTERM, SIGUSR1) that stopped it, checkpointed


def check_resume(ckpt: Path, config: dict, fingerprint: str, force: bool) -> Path:
    """Verify the checkpoint and that it was trained with this config (up to resume-safe keys)."""
    manifest = read_manifest(ckpt)
    if manifest.get("config_fingerprint") != fingerprint:
        diffs = [d for d in config_differences(manifest.get("config", {}), config) if not d.startswith(RESUME_SAFE_KEYS)]
        if not force:
            shown = "\n".join(f"  - {d}" for d in diffs[:20]) or "  (fingerprints differ)"
            raise UserError(
                f"checkpoint {ckpt} was trained with a different config:\n{shown}\n"
                "resume with the original settings, or pass --force-config-change to resume anyway"
            )
    return run_dir_of(ckpt)


def train_component(cfg, overrides: dict, resume: str | None = None, force_config_change: bool = False,
                    run_dir: Path | None = None, extra_callbacks: tuple = (), with_report: bool = True) -> RunResult:
    """Train `cfg.run.component`: in a new run directory (`run_dir` when given, e.g. a pipeline
    phase's folder; it must not exist yet), or resumed from `resume` in the checkpoint's own.
    `with_report=False` (Optuna trials) skips the component's report hook (baselines, plots)."""
    # ---- setup: everything that can fail on user input, before anything is written ----------
    spec = get_component(cfg.run.component)
    config = cfg.model_dump(mode="json")
    fingerprint = config_fingerprint(config, RESUME_SAFE_KEYS)
    ckpt = resolve_resume_target(resume) if resume else None
    fixed_dir = run_dir
    run_dir = check_resume(ckpt, config, fingerprint, force_config_change) if ckpt else None
    resumed = read_manifest(ckpt) if ckpt else {}
    if ckpt is not None and is_rank_zero():  # temporary files of checkpoint writes a kill interrupted
        for stale in ckpt.parent.glob(".*.ckpt.*.tmp"):
            stale.unlink(missing_ok=True)
    resume_step = resumed.get("global_step")
    if run_dir is None and RUN_DIR_ENV not in os.environ:
        if int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", "1"))) > 1:
            raise UserError(
                "this process is one of several launched together (torchrun/SLURM): export "
                f"{RUN_DIR_ENV}=<a path all ranks share> so that they write one run directory"
            )
        rd.check_writable(Path(cfg.run.output_dir))
    from .tracking import check_backends

    check_backends(cfg)  # a missing extra or a silent MLflow server: before anything is written

    if spec.loop:
        return _train_own_loop(spec, cfg, config, overrides, ckpt, fixed_dir)
    universe = _universe_for_this_rank(cfg) if spec.reads_universe(cfg) else None

    import lightning as L
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    L.seed_everything(cfg.run.seed, workers=True, verbose=False)
    rank_zero = is_rank_zero()
    run_dir, created = _claim_run_dir(cfg, run_dir, rank_zero, fixed_dir)
    try:
        datamodule = spec.resolve("datamodule")(cfg, universe)
        module = spec.resolve("module")(cfg, datamodule)
        if rank_zero:
            _write_run_files(run_dir, cfg, config, overrides, universe, datamodule.treatment(), resumed_from=ckpt)
        from .callbacks import StopAfterSteps
        from .trainer import build_trainer

        last = str(run_dir / "checkpoints" / "last.ckpt")
        extra = ((StopAfterSteps(cfg.trainer.stop_after_steps, last),) if cfg.trainer.stop_after_steps else ()) + tuple(extra_callbacks)
        try:
            component_epochs = getattr(getattr(cfg.components, spec.name), "max_epochs", None)
            trainer = build_trainer(cfg, run_dir, make_checkpoint_io(config, fingerprint), extra_callbacks=extra,
                                    resume_step=resume_step, max_epochs=component_epochs, resume_row=resumed.get("pending_log_row"))
        except MisconfigurationException as exc:  # e.g. trainer.devices=4 on a 1-GPU machine
            raise UserError(f"the trainer settings do not fit this machine: {exc}") from None
        if rank_zero:
            from .tracking import log_run_record

            log_run_record(trainer.loggers, config, json.loads((run_dir / rd.PROVENANCE_FILE).read_text()), resumed=ckpt is not None)
    except BaseException:
        if created:
            rd.remove_run_dir(run_dir)  # nothing half-written is left behind
        raise
    with _shared_run_dir(run_dir):
        result = _train_and_evaluate(spec, cfg, trainer, module, datamodule, run_dir, ckpt, with_report)
    result.steps_run = result.metrics["global_step"] - (resume_step or 0)
    return result


def _train_and_evaluate(spec, cfg, trainer, module, datamodule, run_dir: Path, ckpt: Path | None, with_report: bool = True) -> RunResult:
    # ---- train ------------------------------------------------------------------------------
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
    wall = time.perf_counter() - started
    from .callbacks import StopAfterSteps

    from .callbacks import Preemption

    preemption = next(cb for cb in trainer.callbacks if isinstance(cb, Preemption))
    late = trainer.strategy.reduce_boolean_decision(preemption.received is not None, all=False) if trainer.world_size > 1 \
        else preemption.received is not None  # a signal after the last step: training is done, evaluation is not
    preempted = preemption.stopped_by or ((preemption.received or 15) if late else None)
    stopped = any(isinstance(cb, StopAfterSteps) and cb.stopped for cb in trainer.callbacks) or preemption.stopped_by
    finished = not preempted and not stopped
    if not stopped:  # the final state (a stopped run already saved its resumable mid-epoch state)
        trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt", weights_only=False)

    # ---- evaluate and save --------------------------------------------------------------------
    metrics = {
        "component": spec.name, "global_step": int(trainer.global_step), "epoch": int(trainer.current_epoch),
        "world_size": int(trainer.world_size), "precision": str(trainer.precision),
    }
    metrics["train"] = {"wall_time_s": round(wall, 2), "peak_rss_mb": round(_peak_rss_mb(), 1)}
    if getattr(datamodule, "batch_size", None) and wall > 0:
        metrics["train"]["samples_per_s"] = round(trainer.global_step * datamodule.batch_size * trainer.world_size / wall, 2)
    if finished:
        val = trainer.validate(module, datamodule=datamodule, verbose=False)[0]
        test = trainer.test(module, datamodule=datamodule, verbose=False)[0]
        metrics["val"] = {k.removeprefix("val/"): float(v) for k, v in val.items()}
        metrics["test"] = {k.removeprefix("test/"): float(v) for k, v in test.items()}
        if trainer.is_global_zero:
            metrics["baselines"] = spec.resolve("report")(cfg, module, datamodule, run_dir) if spec.report and with_report else {}
    if trainer.is_global_zero:
        atomic_write_json(run_dir / rd.METRICS_FILE, metrics)
        if finished:
            from .tracking import log_final_metrics

            log_final_metrics(trainer.loggers, metrics, int(trainer.global_step))
    return RunResult(run_dir=run_dir, metrics=metrics, finished=finished, preempted=preempted)


def _train_own_loop(spec, cfg, config: dict, overrides: dict, ckpt: Path | None, fixed: Path | None) -> RunResult:
    """A component with its own loop (the Flower federation): setup → its loop → metrics.json.
    Nothing to resume: a stopped federation starts again from round 1."""
    from .provenance import collect_provenance

    if ckpt is not None:
        raise UserError(f"component {spec.name} has no checkpoints to resume (its federation restarts from round 1): start a new run")
    spec.resolve("check")(cfg)
    universe = _universe_for_this_rank(cfg) if spec.reads_universe(cfg) else None
    run_dir, created = _claim_run_dir(cfg, None, True, fixed)
    try:
        atomic_write_text(run_dir / rd.CONFIG_FILE, rd.dump_yaml(config))
        atomic_write_text(run_dir / rd.OVERRIDES_FILE, rd.dump_yaml(overrides))
        data = {"universe": {"path": str(universe.path), "sha256": universe.manifest["sha256"], "n_planets": len(universe)} if universe else None}
        atomic_write_json(run_dir / rd.PROVENANCE_FILE, collect_provenance(cfg.run.seed, data))
        started = time.perf_counter()
        metrics = spec.resolve("loop")(cfg, universe, run_dir)
    except UserError:
        if created:
            rd.remove_run_dir(run_dir)
        raise
    metrics = {"component": spec.name, "global_step": metrics.get("rounds", 0), "epoch": metrics.get("rounds", 0), "world_size": 1,
               "precision": "32-true", "train": {"wall_time_s": round(time.perf_counter() - started, 2), "peak_rss_mb": round(_peak_rss_mb(), 1)},
               **metrics}
    atomic_write_json(run_dir / rd.METRICS_FILE, metrics)
    return RunResult(run_dir=run_dir, metrics=metrics, finished=True, steps_run=0)


def is_rank_zero() -> bool:
    """Rank 0 of a DDP job (or a single process): RANK under torchrun, SLURM_PROCID under srun,
    LOCAL_RANK/NODE_RANK under Lightning's own launcher."""
    for variable in ("RANK", "SLURM_PROCID"):
        if variable in os.environ:
            return os.environ[variable] == "0"
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def _universe_for_this_rank(cfg, wait_s: float = 1800.0):
    """Rank 0 generates (or reuses) the universe; other ranks wait for its manifest, then open it."""
    from ..universe.generate import ensure_universe, universe_path
    from ..universe.store import MANIFEST_FILE, open_universe

    if is_rank_zero():
        return ensure_universe(cfg.data.universe, progress=cfg.trainer.enable_progress_bar)
    manifest = universe_path(cfg.data.universe) / MANIFEST_FILE
    deadline = time.monotonic() + wait_s
    while not manifest.is_file():
        if time.monotonic() > deadline:
            raise UserError(f"rank 0 did not generate the universe {manifest.parent} within {wait_s:.0f} s; run `astrotrain data generate` first")
        time.sleep(1.0)
    return open_universe(manifest.parent)


def _claim_run_dir(cfg, resumed_run_dir: Path | None, rank_zero: bool, fixed: Path | None = None) -> tuple[Path, bool]:
    """(run directory, whether this call created it). DDP workers join rank 0's via $ASTROTRAIN_RUN_DIR."""
    if resumed_run_dir is not None:
        return resumed_run_dir, False
    if fixed is not None:
        fixed.mkdir(parents=True, exist_ok=False)
        return fixed, True
    if RUN_DIR_ENV in os.environ:
        path = Path(os.environ[RUN_DIR_ENV])
        if rank_zero and (path / rd.CONFIG_FILE).exists():
            raise UserError(f"{RUN_DIR_ENV}={path} already holds a run; resume it with --resume {path}, or choose a new directory")
        created = rank_zero and not path.exists()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the run directory {path}: {exc.strerror}; choose another") from None
        return path, created
    return rd.new_run_dir(cfg.run.output_dir, cfg.run.name), True


@contextlib.contextmanager
def _shared_run_dir(run_dir: Path):
    """Export the run directory while training, so that the DDP workers Lightning launches join it."""
    previous = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = previous


def _write_run_files(run_dir: Path, cfg, config: dict, overrides: dict, universe, treatment: dict, resumed_from: Path | None) -> None:
    """config.yaml, overrides.yaml, normalisation.json (fitted on train only) and provenance.json."""
    from .provenance import collect_provenance

    atomic_write_text(run_dir / rd.CONFIG_FILE, rd.dump_yaml(config))
    atomic_write_json(run_dir / rd.NORMALISATION_FILE, treatment["normalisation"])
    provenance_path = run_dir / rd.PROVENANCE_FILE
    if resumed_from is None:
        atomic_write_text(run_dir / rd.OVERRIDES_FILE, rd.dump_yaml(overrides))
        data = {
            "universe": {"path": str(universe.path), "sha256": universe.manifest["sha256"], "n_planets": len(universe)} if universe else None,
            **({"sources": treatment["sources"]} if "sources" in treatment else {}),
            "splits": treatment["splits"],
            "normalisation_sha256": sha256_json(treatment["normalisation"]),
        }
        atomic_write_json(provenance_path, collect_provenance(cfg.run.seed, data))
    else:
        import json

        provenance = json.loads(provenance_path.read_text()) if provenance_path.exists() else {}
        provenance.setdefault("resumes", []).append(
            {"from": str(resumed_from), "overrides": overrides, **{k: v for k, v in collect_provenance(cfg.run.seed, {}).items() if k in ("created", "command", "git")}}
        )
        atomic_write_json(provenance_path, provenance)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
