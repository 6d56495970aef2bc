"""Training one component, top to bottom: checks → setup → fit → evaluate → save, for every
component through its recipe (`engine/recipe.py`).

Everything a user can get wrong (config, checkpoint, output folder) is checked before the
run directory exists; if setup fails after it was created, it is removed again. The run
directory's records (config, overrides, normalisation, provenance, metrics) are written here only.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .. import timing
from ..config.registry import get_component
from ..config.schema import RESUME_SAFE_KEYS, MasterConfig
from ..errors import UserError
from ..fsutil import atomic_write_json, atomic_write_text
from ..hashing import sha256_json
from ..runs import layout as rd
from ..runs.checkpoints import config_differences, config_fingerprint, read_manifest, resolve_resume_target, run_dir_of, same_config_but_newer_schema
from ..runs.listing import describe_lineage
from ..universe.generate import ensure_universe, universe_path
from ..universe.store import MANIFEST_FILE, open_universe
from .lineage import copy_parent_log, plan_start
from .provenance import collect_provenance
from .recipe import make_recipe
from .tracking import check_backends, log_run_record

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
    if manifest.get("config_fingerprint") != fingerprint and same_config_but_newer_schema(
            manifest.get("config", {}), manifest.get("config_fingerprint"), config, RESUME_SAFE_KEYS, MasterConfig().model_dump(mode="json")):
        return run_dir_of(ckpt)  # written before the schema gained keys this config leaves at their defaults
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
                    run_dir: Path | None = None, extra_callbacks: tuple = (), with_report: bool = True, fork: bool = False) -> RunResult:
    """Train `cfg.run.component`: in a new run directory (`run_dir` when given, e.g. a pipeline
    phase's folder; it must not exist yet), or resumed from `resume` in the checkpoint's own
    (`fork`: its exact state continued in a new run directory, the original untouched).
    `with_report=False` (Optuna trials) skips the component's report hook (baselines, plots)."""
    # ---- setup: everything that can fail on user input, before anything is written ----------
    spec = get_component(cfg.run.component)
    timing.collect()  # one-off steps are this run's from here on
    config = cfg.model_dump(mode="json")
    fingerprint = config_fingerprint(config, RESUME_SAFE_KEYS)
    if fork and not resume:
        raise UserError("--fork goes with --resume RUN_OR_CKPT: it continues that run's exact state in a new run directory")
    if spec.loop and (fork or cfg.init.checkpoint):
        raise UserError(f"component {spec.name} runs its own loop and has no weights to start from another run (--init-from/--fork "
                        "are for Lightning components; the federation starts from phase 2 with components.galactic.init=fusion)")
    ckpt = resolve_resume_target(resume) if resume else None
    resumed_dir = check_resume(ckpt, config, fingerprint, force_config_change) if ckpt and not fork else None
    resumed = read_manifest(ckpt) if ckpt else {}
    start = plan_start(cfg, spec.name, ckpt, fork, config)
    if resumed_dir is not None and is_rank_zero():  # temporary files of checkpoint writes a kill interrupted
        for stale in ckpt.parent.glob(".*.ckpt.*.tmp"):
            stale.unlink(missing_ok=True)
    if resumed_dir is None and RUN_DIR_ENV not in os.environ:
        if int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", "1"))) > 1:
            raise UserError(
                "this process is one of several launched together (torchrun/SLURM): export "
                f"{RUN_DIR_ENV}=<a path all ranks share> so that they write one run directory"
            )
        rd.check_writable(Path(cfg.run.output_dir))
    check_backends(cfg)  # a missing extra or a silent MLflow server: before anything is written
    recipe = make_recipe(spec, cfg, config, fingerprint, resumed, extra_callbacks, with_report, start)
    recipe.check(ckpt)
    universe = _universe_for_this_rank(cfg) if spec.reads_universe(cfg) else None
    if not spec.loop:
        import lightning as L

        L.seed_everything(cfg.run.seed, workers=True, verbose=False)
    rank_zero = is_rank_zero()
    run_dir, created = _claim_run_dir(cfg, resumed_dir, rank_zero, run_dir)
    try:
        treatment = recipe.setup(universe, run_dir)
        if rank_zero:
            if fork:
                copy_parent_log(ckpt.parent.parent, run_dir)
            _write_run_files(run_dir, cfg, config, overrides, universe, treatment, resumed_from=ckpt if resumed_dir else None)
            log_run_record(recipe.loggers, config, json.loads((run_dir / rd.PROVENANCE_FILE).read_text()), resumed=resumed_dir is not None)
            if "lineage" in treatment:
                print(f"weights: {describe_lineage(treatment['lineage'])}")
    except BaseException:
        if created:
            rd.remove_run_dir(run_dir)  # nothing half-written is left behind
        raise

    # ---- fit → evaluate → save ------------------------------------------------------------------
    try:
        with _shared_run_dir(run_dir):
            fitted = recipe.fit(ckpt)
            metrics = {"component": spec.name, **fitted.record}
            metrics["train"]["one_off_s"] = timing.collect()  # a universe generated, a molecule space enumerated, ...
            if fitted.finished:
                metrics.update(recipe.evaluate())
    except UserError:
        if created and not recipe.keeps_run_dir_on_user_error:
            rd.remove_run_dir(run_dir)
        raise
    if recipe.is_global_zero:
        atomic_write_json(run_dir / rd.METRICS_FILE, metrics)
        if fitted.finished:
            recipe.save(metrics)
    steps = metrics["global_step"] - (resumed.get("global_step") or 0) if not spec.loop else 0
    return RunResult(run_dir=run_dir, metrics=metrics, finished=fitted.finished, steps_run=steps, preempted=fitted.preempted)


def is_rank_zero() -> bool:
    """Rank 0 of a DDP job (or a single process): RANK under torchrun, SLURM_PROCID under srun,
    LOCAL_RANK/NODE_RANK under Lightning's own launcher."""
    for variable in ("RANK", "SLURM_PROCID"):
        if variable in os.environ:
            return os.environ[variable] == "0"
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def _universe_for_this_rank(cfg, wait_s: float = 1800.0):
    """Rank 0 generates (or reuses) the universe; other ranks wait for its manifest, then open it."""
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
    return rd.new_run_dir(cfg.run.output_dir, cfg.run.directory_name), True


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
    """config.yaml, overrides.yaml, normalisation.json (fitted on train only, where the component fits any) and provenance.json."""
    atomic_write_text(run_dir / rd.CONFIG_FILE, rd.dump_yaml(config))
    if "normalisation" in treatment:
        atomic_write_json(run_dir / rd.NORMALISATION_FILE, treatment["normalisation"])
    provenance_path = run_dir / rd.PROVENANCE_FILE
    if resumed_from is None:
        atomic_write_text(run_dir / rd.OVERRIDES_FILE, rd.dump_yaml(overrides))
        data = {"universe": {"path": str(universe.path), "sha256": universe.manifest["sha256"], "n_planets": len(universe)} if universe else None,
                **({"sources": treatment["sources"]} if "sources" in treatment else {})}
        if "splits" in treatment:
            data.update(splits=treatment["splits"], normalisation_sha256=sha256_json(treatment["normalisation"]))
        lineage = {"lineage": treatment["lineage"]} if "lineage" in treatment else {}
        atomic_write_json(provenance_path, {**collect_provenance(cfg.run.seed, data), **lineage})
    else:
        provenance = json.loads(provenance_path.read_text()) if provenance_path.exists() else {}
        provenance.setdefault("resumes", []).append(
            {"from": str(resumed_from), "overrides": overrides, **{k: v for k, v in collect_provenance(cfg.run.seed, {}).items() if k in ("created", "command", "git")}}
        )
        atomic_write_json(provenance_path, provenance)
