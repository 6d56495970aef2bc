"""`python train.py --component X --optimize --trials N` (= `python train_optuna.py --component X --trials N`).

setup → (other worker processes, with --n-jobs) → trials → outputs; see study.py for the rules.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..config.loader import set_path, validate
from ..engine.runner import train_component
from ..errors import UserError
from . import study as st
from .report import write_outputs


def run_optimize(cfg, override_tree: dict, storage: str | None, study_name: str | None, n_jobs: int = 1) -> Path:
    # ---- setup: every check before any trial ------------------------------------------------------
    setup = st.resolve(cfg, storage, study_name)
    storage_obj = st.open_storage(setup, cfg)
    study = st.make_study(setup, cfg, storage_obj)
    url = st.shown_url(setup.storage_url)
    print(f"study {setup.study_name}: {setup.component}, {setup.direction} val/{setup.metric}, {setup.trials} trials, storage {url}\n"
          f"  resume it, or add workers: python train_optuna.py --component {setup.component} --trials {setup.trials} "
          f"--storage {url} --study-name {setup.study_name}", flush=True)
    workers = [spawn_worker(setup) for _ in range(n_jobs - 1)]

    # ---- trials -------------------------------------------------------------------------------------
    try:
        st.run_study(study, setup.trials, lambda trial: run_trial(trial, cfg, setup), wait_s=cfg.hpo.heartbeat_interval_s)
        failed = [w.returncode for w in workers if w.wait() != 0]
    finally:
        for worker in workers:  # this process failed or was interrupted: its workers stop with it
            if worker.poll() is None:
                worker.terminate()
                worker.wait()
    if failed:
        raise UserError(f"{len(failed)} worker process(es) of the study exited with {failed}; see their output above, "
                        f"then rerun the same command: the study resumes from its storage")

    # ---- outputs (once, by the process the user started) ---------------------------------------------
    if os.environ.get(WORKER_ENV) != "1":
        write_outputs(study, cfg, setup)
    return setup.folder


WORKER_ENV = "ASTROTRAIN_STUDY_WORKER"  # set in the worker processes --n-jobs starts: they leave the outputs to the first


def spawn_worker(setup: st.StudySetup) -> subprocess.Popen:
    """Another process on the same storage and study (the command line of this one, without --n-jobs)."""
    argv, skip = [], False
    given = sys.argv[1:]
    if given and given[0] == "train":  # the console script: astrotrain train ...
        given = given[1:]
    for token in given:
        if skip:
            skip = False
            continue
        if token == "--n-jobs":
            skip = True
            continue
        if not token.startswith("--n-jobs="):
            argv.append(token)
    extra = [] if "--storage" in argv else ["--storage", setup.storage_url, "--study-name", setup.study_name]
    optimize = [] if "--optimize" in argv else ["--optimize"]  # train_optuna.py adds it itself
    return subprocess.Popen([sys.executable, "-m", "astrotrain", "train", *optimize, *argv, *extra], env={**os.environ, WORKER_ENV: "1"})


def run_trial(trial, cfg, setup: st.StudySetup) -> float:
    """One trial: an ordinary component run with the sampled values, pruned on val/<metric>."""
    values = st.suggest(trial, setup.keys)
    tree = cfg.model_dump(mode="json")
    overrides: dict = {}
    for key, value in values.items():
        set_path(tree, key.split("."), value)
        set_path(overrides, key.split("."), value)
    tcfg = validate(tree, source=f"trial {trial.number}")
    tcfg.run.mode, tcfg.run.name = "component", f"trial-{trial.number:04d}"
    tcfg.trainer.enable_progress_bar = False
    tcfg.trainer.check_val_every_n_epoch = cfg.hpo.val_every_n_epochs  # the pruner needs the metric during training
    if cfg.hpo.max_epochs is not None:
        section = getattr(tcfg.components, setup.component)
        if "max_epochs" in type(section).model_fields:
            section.max_epochs = cfg.hpo.max_epochs
        else:
            tcfg.trainer.max_epochs = cfg.hpo.max_epochs
    run_dir = setup.folder / "trials" / f"{trial.number:04d}"
    trial.set_user_attr("run_dir", str(run_dir))
    trial.set_user_attr("worker_pid", os.getpid())
    pruning = fit_only_pruning(trial, f"val/{setup.metric}")
    result = train_component(tcfg, overrides, run_dir=run_dir, extra_callbacks=(pruning,), with_report=False)  # raises optuna.TrialPruned when pruned
    value = result.metrics.get("val", {}).get(setup.metric)
    if value is None:
        raise UserError(f"trial {trial.number} finished without val/{setup.metric} in {run_dir / 'metrics.json'}")
    return float(value)


def fit_only_pruning(trial, monitor: str):
    """optuna-integration's Lightning pruning callback, reporting only during fit: the runner's final
    `trainer.validate()` after training would otherwise report once more and could prune a finished trial."""
    from optuna_integration import PyTorchLightningPruningCallback

    class FitOnlyPruning(PyTorchLightningPruningCallback):
        def on_validation_end(self, trainer, pl_module) -> None:
            if trainer.state.fn == "fit":
                super().on_validation_end(trainer, pl_module)

    return FitOnlyPruning(trial, monitor=monitor)


def check_no_stray_flags(args, cfg) -> None:
    if (args.storage or args.study_name or args.n_jobs) and cfg.run.mode != "optimize":
        raise UserError("--storage, --study-name and --n-jobs go with --optimize (e.g. --optimize --trials 20 --storage sqlite:///study.db)")
    if args.n_jobs is not None and args.n_jobs < 1:
        raise UserError(f"--n-jobs must be at least 1, got {args.n_jobs}")
