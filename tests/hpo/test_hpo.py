"""Hyper-parameter search with Optuna (issue #10): the study machinery, pruning, kill-and-resume, shared storage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from astrotrain.config.loader import load_config
from astrotrain.errors import UserError
from tests.conftest import ROOT, SMOKE, cli_env, run_cli, smoke_args

SURROGATE_SPACE = ["hpo.search_space.surrogate={lr: {type: float, low: 1.0e-3, high: 4.0e-3, log: true}, d_model: {type: categorical, choices: [16, 32]}}"]


def study_setup(tmp_path: Path, *overrides: str):
    from astrotrain.hpo import study as st

    cfg, _ = load_config(SMOKE, [f"run.output_dir={tmp_path}", "run.component=surrogate", *overrides])
    return cfg, st.resolve(cfg)


def test_a_study_finds_the_optimum_of_a_toy_objective(tmp_path):
    """The sampler, the search space and the budget bookkeeping on a known optimum: (x − 0.3)² + (log10 y + 2)²."""
    import math

    from astrotrain.hpo import study as st

    cfg, setup = study_setup(tmp_path, "hpo.trials=60", "hpo.search_space.surrogate={dropout: {type: float, low: 0.0, high: 0.9}, "
                                                       "lr: {type: float, low: 1.0e-4, high: 1.0, log: true}}", "hpo.direction=minimize")
    study = st.make_study(setup, cfg, st.open_storage(setup, cfg))

    def objective(trial):
        v = st.suggest(trial, setup.keys)
        return (v["components.surrogate.dropout"] - 0.3) ** 2 + (math.log10(v["components.surrogate.lr"]) + 2) ** 2

    st.run_study(study, setup.trials, objective)
    assert st.finished(study) == 60
    best = study.best_params
    assert best["components.surrogate.dropout"] == pytest.approx(0.3, abs=0.08)
    assert math.log10(best["components.surrogate.lr"]) == pytest.approx(-2, abs=0.25)
    surrogate = cfg.components.surrogate  # trial 0: the config as given, the reference of the study's improvement
    assert study.trials[0].user_attrs.get("default_config")
    assert study.trials[0].params == {"components.surrogate.dropout": surrogate.dropout, "components.surrogate.lr": surrogate.lr}


@pytest.mark.parametrize(("overrides", "message"), [
    (["hpo.search_space.surrogate={}"], "hpo.search_space.surrogate is empty"),
    (["hpo.search_space.surrogate={lr: {type: float, low: 1.0e-3, high: 2.0}}"], "components.surrogate.lr=2.0 is not a valid value"),
    (["hpo.search_space.surrogate={n_layer: {type: int, low: 1, high: 3}}"], "components.surrogate.n_layer is not a config key"),
    (["hpo.metric=accuracy"], "hpo.metric='accuracy' is not a validation metric of surrogate; choose one of"),
])
def test_a_bad_search_space_or_metric_is_a_clear_error_before_any_trial(tmp_path, overrides, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("[", r"\[")):
        study_setup(tmp_path, *overrides)
    assert not any(tmp_path.iterdir())


def test_inconsistent_distributions_are_config_errors(tmp_path):
    res = run_cli(["--validate-only", "hpo.search_space.surrogate={lr: {type: float, low: 0, high: 1, log: true}}"], cwd=tmp_path)
    assert res.returncode == 2 and "log=true needs low > 0" in res.stderr and "hpo.search_space.surrogate.lr" in res.stderr


def test_an_unreachable_storage_is_a_clear_error_before_any_trial(tmp_path, data_cache):
    res = run_cli(smoke_args(tmp_path, data_cache, "--component", "surrogate", "--optimize", "--trials", "2",
                             "--storage", "postgresql://nobody@127.0.0.1:1/none", *SURROGATE_SPACE), cwd=tmp_path)
    assert res.returncode == 2 and "Optuna storage 'postgresql://nobody@127.0.0.1:1/none' cannot be opened" in res.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing written


def optimize_args(tmp_path: Path, data_cache: Path, db: Path, trials: int, *extra: str) -> list[str]:
    return smoke_args(tmp_path, data_cache, "--component", "surrogate", "--optimize", "--trials", str(trials), "--storage", f"sqlite:///{db}",
                      "--study-name", "test", "hpo.max_epochs=3", "hpo.heartbeat_interval_s=1", "hpo.grace_period_s=3",
                      "components.surrogate.mlp_baseline_epochs=0", *SURROGATE_SPACE, *extra)


def load_study(db: Path):
    import optuna

    return optuna.load_study(study_name="test", storage=f"sqlite:///{db}")


@pytest.mark.slow
def test_pruning_stops_trials_that_trail_the_median(tmp_path, data_cache):
    # a designed case: learning rates from hopeless (1e-6) to good, pruned against the median from the first epoch on
    db = tmp_path / "study.db"
    res = run_cli(optimize_args(tmp_path, data_cache, db, 8, "hpo.sampler=random", "hpo.pruner_startup_trials=2", "hpo.pruner_warmup_epochs=0",
                                "hpo.search_space.surrogate={lr: {type: float, low: 1.0e-6, high: 4.0e-3, log: true}}"), cwd=tmp_path, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    states = [t.state.name for t in load_study(db).trials]
    assert states.count("PRUNED") > 0 and states.count("COMPLETE") + states.count("PRUNED") == 8


@pytest.mark.slow
def test_a_study_killed_mid_trial_resumes_without_losing_or_repeating_a_trial(tmp_path, data_cache):
    db = tmp_path / "study.db"
    args = optimize_args(tmp_path, data_cache, db, 4, "hpo.pruner=none", "hpo.max_epochs=8")  # trials long enough to be killed in
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=tmp_path, env=cli_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    while not (tmp_path / "test" / "trials" / "0002" / "config.yaml").is_file():  # trial 2 is set up and about to train
        assert process.poll() is None and time.monotonic() < deadline, "the study ended or stalled before trial 2"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed = {t.number: t for t in load_study(db).trials}[2]
    assert killed.state.name == "RUNNING"  # as a killed process leaves it
    res = run_cli(args, cwd=tmp_path, timeout=1200)  # at once: the restart waits out hpo.grace_period_s before it counts trial 2 as killed
    assert res.returncode == 0, res.stderr[-3000:]
    trials = load_study(db).trials
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(done) == 4  # no finished trial lost, none run twice
    assert [t.state.name for t in trials if t.number == 2] == ["FAIL"]  # the interrupted trial: marked failed …
    retried = [t for t in done if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retried) == 1 and retried[0].params == killed.params  # … and re-run with its parameters
    numbers = [t.number for t in done]
    assert len(set(numbers)) == len(numbers)
    summary = json.loads((tmp_path / "test" / "study.json").read_text())
    assert summary["trials_by_state"]["COMPLETE"] == 4 and (tmp_path / "test" / "best_overrides.txt").is_file()


@pytest.mark.slow
def test_two_workers_on_one_sqlite_storage_complete_the_budget_together(tmp_path, data_cache):
    db = tmp_path / "study.db"
    res = run_cli(optimize_args(tmp_path, data_cache, db, 5, "hpo.pruner=none", "--n-jobs", "2"), cwd=tmp_path, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    trials = load_study(db).trials
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(done) == 5
    run_dirs = {t.user_attrs["run_dir"] for t in done}
    assert len(run_dirs) == 5 and all((Path(d) / "metrics.json").is_file() for d in run_dirs)
    assert len({t.user_attrs["worker_pid"] for t in done}) == 2  # both processes ran trials
    summary = json.loads((tmp_path / "test" / "study.json").read_text())
    assert summary["best_trial"]["value"] == min(t.value for t in done)
    assert summary["trials_by_state"]["COMPLETE"] == 5 and summary["trials_by_state"]["FAIL"] == 0
    for name in ("optimization_history.png", "param_importances.png"):
        assert (tmp_path / "test" / "plots" / name).read_bytes()[:4] == b"\x89PNG"
