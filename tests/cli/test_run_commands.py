"""`astrotrain runs`, `astrotrain compare`, `astrotrain report` on real smoke runs: values checked against metrics.json."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.conftest import run_astrotrain, run_cli, smoke_args

FAST = ["trainer.max_epochs=2", "components.surrogate.mlp_baseline_epochs=0"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_cache):
    """Two finished surrogate runs that differ in one key, and one stopped early: (tmp dir, run A, run B)."""
    tmp_path = tmp_path_factory.mktemp("run-commands")
    for lr in ("0.002", "0.004"):
        res = run_cli(smoke_args(tmp_path, data_cache, *FAST, "run.name=null", f"components.surrogate.lr={lr}"), cwd=tmp_path)
        assert res.returncode == 0, res.stderr[-2000:]
    a, b = sorted((tmp_path / "runs").iterdir())
    stopped = run_cli(smoke_args(tmp_path, data_cache, *FAST, "run.name=stopped", "trainer.stop_after_steps=3"), cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr[-2000:]
    return tmp_path, a, b


def test_runs_lists_every_run_with_its_status_headline_and_git(runs):
    tmp_path, a, b = runs
    assert a.name.endswith("-surrogate") and b.name.endswith("-surrogate")  # the default name is the component
    res = run_astrotrain(["runs", str(tmp_path / "runs"), "--format", "json"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert len(rows) == 3
    for run in (a, b):
        metrics = json.loads((run / "metrics.json").read_text())
        row = rows[run.name]
        assert (row["kind"], row["status"]) == ("surrogate", "finished")
        assert row["headline"]["surrogate"] == {"metric": "surface_temperature_rmse_K", "value": metrics["test"]["surface_temperature_rmse_K"]}
        assert row["wall_time_s"] == round(metrics["train"]["wall_time_s"], 1)
    assert next(r for n, r in rows.items() if n.endswith("-stopped"))["status"] == "interrupted"
    table = run_astrotrain(["runs", str(tmp_path / "runs")], cwd=tmp_path)
    assert table.returncode == 0 and a.name in table.stdout and "finished" in table.stdout
    missing = run_astrotrain(["runs", str(tmp_path / "nowhere")], cwd=tmp_path)
    assert missing.returncode == 2 and "nowhere" in missing.stderr


def test_compare_shows_the_differing_keys_and_the_metrics_side_by_side(runs):
    tmp_path, a, b = runs
    res = run_astrotrain(["compare", str(a), str(b), "--format", "json"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["config_differences"] == {"components.surrogate.lr": [0.002, 0.004]}
    for i, run in enumerate((a, b)):
        test = json.loads((run / "metrics.json").read_text())["test"]
        assert result["metrics"]["surrogate: surface_temperature_rmse_K"][i]["value"] == test["surface_temperature_rmse_K"]
    rows = list(csv.reader(io.StringIO(run_astrotrain(["compare", str(a), str(b), "--format", "csv"], cwd=tmp_path).stdout)))
    assert ["components.surrogate.lr", "0.002", "0.004"] in rows
    markdown = run_astrotrain(["compare", str(a), str(b), "--format", "markdown"], cwd=tmp_path).stdout
    assert "| components.surrogate.lr | 0.002 | 0.004 |" in markdown
    one = run_astrotrain(["compare", str(a)], cwd=tmp_path)
    assert one.returncode == 2 and "two or more" in one.stderr


def test_report_rebuilds_a_component_runs_page(runs):
    tmp_path, run, _ = runs
    (run / "report.html").unlink()
    res = run_astrotrain(["report", str(run)], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    page = (run / "report.html").read_text()
    assert res.stdout.strip() == str(run / "report.html")
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert ">{:.4g}<".format(test["surface_temperature_rmse_K"]) in page  # the page shows the run's own figure
    bad = run_astrotrain(["report", str(tmp_path / "nothing")], cwd=tmp_path)
    assert bad.returncode == 2 and "not an astrotrain run directory" in bad.stderr
