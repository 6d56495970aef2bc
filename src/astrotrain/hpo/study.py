"""`--optimize`: an Optuna study over a component's search space — resumable, shareable, pruned.

    setup    the search space, the metric and the storage checked before any trial (exit 2 on
             bad input); the study created or loaded (same storage + study name = the same study)
    trials   each trial is an ordinary component run (<study folder>/trials/<number>/) with the
             sampled values as overrides, pruned by optuna-integration's Lightning callback
    output   best_config.yaml + best_overrides.txt, trials.csv, plots, report.html

Kill and resume: the storage is an RDB (SQLite by default) with heartbeats. A trial whose
process died stops beating; after `grace_period_s` the next trial to start marks it FAIL and
Optuna's RetryHeartbeatStaleTrialCallback enqueues its parameters again, so it is re-run, never lost.
The study ends when COMPLETE + PRUNED trials reach `hpo.trials`, counted in the storage — a
restarted study and several workers on one storage add up to exactly that number: a trial is
only run while the finished trials plus the running ones numbered before it leave room.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config.loader import set_path, validate
from ..config.registry import get_component
from ..errors import UserError
from ..runs import layout as rd

STUDY_DB = "study.db"
MINIMISED = ("rmse", "mae", "loss", "nll", "ece", "perplexity", "residual", "error", "rate")  # names whose best value is low


class BudgetTaken(Exception):
    """This trial is not needed: finished and earlier running trials already fill the budget."""


@dataclass
class StudySetup:
    component: str
    metric: str
    direction: str
    keys: dict[str, object]  # absolute config key → Distribution
    folder: Path
    storage_url: str
    study_name: str
    trials: int


def resolve(cfg, storage: str | None = None, study_name: str | None = None, output_dir: Path | None = None) -> StudySetup:
    """Every check on the study's input, before anything runs: search space, metric, storage."""
    spec = get_component(cfg.run.component)
    if spec.hpo_metric is None:
        raise UserError(f"component {spec.name} cannot be optimised with Optuna (it has no validation metric per epoch); optimise another component")
    metric = cfg.hpo.metric or spec.hpo_metric[0]
    known = sorted({spec.hpo_metric[0], *spec.science_metrics})
    if metric not in known:
        raise UserError(f"hpo.metric={metric!r} is not a validation metric of {spec.name}; choose one of {', '.join(known)}")
    if cfg.trainer.devices * cfg.trainer.num_nodes > 1:
        raise UserError("--optimize runs each trial in this process: set trainer.devices=1 trainer.num_nodes=1 "
                        "(several workers: --n-jobs K, or the same command on other machines with one --storage)")
    direction = cfg.hpo.direction or (spec.hpo_metric[1] if metric == spec.hpo_metric[0] else
                                      "minimize" if any(word in metric for word in MINIMISED) else "maximize")
    keys = check_search_space(cfg, spec.name)
    name = study_name or cfg.hpo.study_name or f"astrotrain-{spec.name}"
    url = storage or cfg.hpo.storage
    if url is None:
        rd.check_writable(Path(cfg.run.output_dir))
        root = output_dir or Path(cfg.run.output_dir) / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
        url = f"sqlite:///{(root / STUDY_DB).resolve()}"
    sqlite_file = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None
    # one folder per study: several studies may share a database file
    folder = (Path(sqlite_file).parent if sqlite_file else Path(cfg.run.output_dir)) / name
    return StudySetup(spec.name, metric, direction, keys, folder, url, name, cfg.hpo.trials)


def check_search_space(cfg, component: str) -> dict[str, object]:
    """{absolute config key: distribution}; each key must exist, and its bounds (or choices) must validate."""
    space = cfg.hpo.search_space.get(component) or {}
    if not space:
        raise UserError(f"hpo.search_space.{component} is empty: declare at least one key to search, e.g. "
                        f"hpo.search_space.{component}.lr={{type: float, low: 1e-4, high: 1e-2, log: true}}")
    base = cfg.model_dump(mode="json")
    keys = {}
    for key, dist in space.items():
        path = key if key.split(".")[0] in base else f"components.{component}.{key}"
        node = base
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise UserError(f"hpo.search_space.{component}.{key}: {path} is not a config key")
            node = node[part]
        for value in (dist.choices if dist.type == "categorical" else [int(dist.low) if dist.type == "int" else dist.low,
                                                                          int(dist.high) if dist.type == "int" else dist.high]):
            tree = cfg.model_dump(mode="json")
            set_path(tree, path.split("."), value)
            try:
                validate(tree, source=f"hpo.search_space.{component}.{key}")
            except UserError as exc:
                raise UserError(f"hpo.search_space.{component}.{key}: {path}={value!r} is not a valid value ({exc.message.splitlines()[-1].strip()})") from None
        keys[path] = dist
    return keys


def open_storage(setup: StudySetup, cfg):
    """The RDB storage with heartbeats and retry of killed trials; a clear error if it cannot be reached."""
    import optuna

    sqlite = setup.storage_url.startswith("sqlite:///")
    try:
        if sqlite:
            Path(setup.storage_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        storage = optuna.storages.RDBStorage(
            setup.storage_url, engine_kwargs={"connect_args": {"timeout": 60}} if sqlite else None,  # workers share one SQLite file
            heartbeat_interval=cfg.hpo.heartbeat_interval_s, grace_period=cfg.hpo.grace_period_s,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=cfg.hpo.max_retries))
    except Exception as exc:  # noqa: BLE001 - bad URL, missing driver, unreachable server, unwritable path: all the user's to fix
        raise UserError(f"Optuna storage {shown_url(setup.storage_url)!r} cannot be opened ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                        "pass a reachable database URL with --storage (sqlite:///path/study.db, postgresql://user@host/db)") from None
    setup.folder.mkdir(parents=True, exist_ok=True)
    return storage


def shown_url(url: str) -> str:
    """The storage URL with any password masked (it goes to logs, study.json and the report)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy parses: nothing to mask
        return url


def make_study(setup: StudySetup, cfg, storage):
    import optuna

    seed = cfg.hpo.seed if cfg.hpo.seed is not None else cfg.run.seed
    sampler = optuna.samplers.TPESampler(seed=seed) if cfg.hpo.sampler == "tpe" else optuna.samplers.RandomSampler(seed=seed)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=cfg.hpo.pruner_startup_trials, n_warmup_steps=cfg.hpo.pruner_warmup_epochs)
              if cfg.hpo.pruner == "median" else optuna.pruners.NopPruner())
    study = optuna.create_study(storage=storage, study_name=setup.study_name, direction=setup.direction, sampler=sampler, pruner=pruner,
                                load_if_exists=True)
    if not study.trials:  # trial 0 is the config as given: the study's improvement is measured against it
        defaults = default_values(cfg, setup.keys)
        if defaults is not None:
            study.enqueue_trial(defaults, user_attrs={"default_config": True}, skip_if_exists=True)
    return study


def default_values(cfg, keys: dict[str, object]) -> dict | None:
    """The config's own values of the searched keys, when every one lies in its distribution (else None)."""
    tree, out = cfg.model_dump(mode="json"), {}
    for key, d in keys.items():
        value = tree
        for part in key.split("."):
            value = value[part]
        inside = value in d.choices if d.type == "categorical" else d.low <= value <= d.high
        if not inside:
            return None
        out[key] = value
    return out


def suggest(trial, keys: dict[str, object]) -> dict[str, object]:
    values = {}
    for key, d in keys.items():
        if d.type == "categorical":
            values[key] = trial.suggest_categorical(key, d.choices)
        elif d.type == "int":
            values[key] = trial.suggest_int(key, int(d.low), int(d.high), step=int(d.step or 1), log=d.log)
        else:
            values[key] = trial.suggest_float(key, d.low, d.high, step=d.step, log=d.log)
    return values


def claim_budget(trial, budget: int) -> None:
    """Raise BudgetTaken when the finished trials and the running ones numbered before this one fill the budget."""
    from optuna.trial import TrialState

    trials = trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
    taken = sum(1 for t in trials if t.state != TrialState.RUNNING or t.number < trial.number)
    if taken >= budget:
        trial.set_user_attr("surplus", True)
        raise BudgetTaken(f"trial {trial.number} not run: {taken} trials finished or running fill hpo.trials={budget}")


def counts(study) -> tuple[int, int]:
    """(COMPLETE + PRUNED, RUNNING) trials in the storage."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
    running = sum(t.state == TrialState.RUNNING for t in done)
    return len(done) - running, running


def finished(study) -> int:
    return counts(study)[0]


def run_study(study, budget: int, objective: Callable, wait_s: float = 1.0) -> None:
    """Trials until COMPLETE + PRUNED reach `budget` in the storage (this worker's share of it).

    While other trials in flight fill the budget, wait: they finish, or — killed — their heartbeat
    stops and they are failed and re-enqueued (then run here)."""
    import logging

    import optuna

    logging.getLogger("optuna.study._optimize").addFilter(lambda record: "BudgetTaken" not in record.getMessage())
    while True:
        done, running = counts(study)
        if done >= budget:
            return
        if done + running >= budget:
            time.sleep(wait_s)
            optuna.storages.fail_stale_trials(study)
            continue

        def guarded(trial):
            claim_budget(trial, budget)  # another worker may have started a trial since the count
            return objective(trial)

        study.optimize(guarded, n_trials=1, catch=(BudgetTaken,), gc_after_trial=True)
