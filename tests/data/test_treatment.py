"""Data treatment: quality reports, GCM ingestion through the CLI, treatment records in the run, the DVC pipeline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from astrotrain.cli import main
from astrotrain.config.schema import UniverseConfig
from astrotrain.data import quality
from astrotrain.data.splits import planet_splits
from astrotrain.universe.generate import ensure_universe
from tests.conftest import ROOT, SMOKE, cli_env, run_cli, smoke_args
from tests.data.test_archive import SNAPSHOT, needs_snapshot, write_export


def test_planet_splits_are_disjoint_complete_and_seeded():
    s = planet_splits(1000, 0.75, 0.10, seed=3)
    assert [len(s[k]) for k in ("train", "val", "test")] == [750, 100, 150]
    together = np.concatenate(list(s.values()))
    assert len(np.unique(together)) == 1000 == len(together)
    assert np.array_equal(planet_splits(1000, 0.75, 0.10, seed=3)["val"], s["val"])
    assert not np.array_equal(planet_splits(1000, 0.75, 0.10, seed=4)["val"], s["val"])


def test_universe_report_is_clean_and_catches_leakage(tmp_path):
    u = ensure_universe(UniverseConfig(n_planets=30, cache_dir=str(tmp_path)), progress=False)
    report = quality.universe_report(u, planet_splits(30, 0.7, 0.15, 0))
    assert report.records == [] and report.summary["split train"] == 21
    leaky = {"train": np.arange(0, 20), "test": np.arange(18, 30)}
    report = quality.universe_report(u, leaky)
    assert [(r.where, r.check, r.action) for r in report.records] == [
        ("planet 18", "leakage", "rejected"), ("planet 19", "leakage", "rejected")]
    json_path, html_path = report.write(tmp_path / "report")
    assert json.loads(json_path.read_text())["counts"] == {"rejected": 2}
    assert "planet 18" in html_path.read_text() and html_path.read_text().startswith("<!doctype html>")


def test_data_report_command_on_the_universe_and_on_an_archive_export(tmp_path, capsys):
    cfg = ["--config", str(SMOKE), f"data.universe.cache_dir={tmp_path / 'u'}", "data.universe.n_planets=20"]
    assert main(["data", "report", "--no-progress", "--out", str(tmp_path / "r"), *cfg]) == 0
    assert "no problems" in capsys.readouterr().out
    assert json.loads((tmp_path / "r" / "quality_report.json").read_text())["records"] == []
    export = write_export(tmp_path / "e.csv", "Good b,Good,Transit,10.0,0.05,1.0,1.0,0.9,250,3000,0.2,0.2,10",
                          "Bad b,Bad,Transit,1", ",NoStar,Transit,10,0.05,1.0,1.0,0.9,250,,0.2,0.2,10")
    assert main(["data", "report", "--archive", str(export), "--out", str(tmp_path / "a"), *cfg]) == 0
    records = json.loads((tmp_path / "a" / "quality_report.json").read_text())["records"]
    assert [(r["where"], r["action"]) for r in records] == [("line 7", "rejected"), ("line 8 ()", "rejected")]
    assert "no st_teff" in records[1]["detail"]


@needs_snapshot
def test_report_on_the_real_snapshot_counts_domains(tmp_path, capsys):
    assert main(["data", "report", "--archive", str(SNAPSHOT), "--out", str(tmp_path), "--config", str(SMOKE)]) == 0
    summary = json.loads((tmp_path / "quality_report.json").read_text())["summary"]
    assert summary["rows read"] == 5766 and summary["rejected by the mapping"] == 271
    assert summary["in CLERO core domain"] == 14 and summary["in CLERO extended domain"] == 101


def write_exocam_file(path: Path, nan: bool = False) -> Path:
    import xarray as xr

    rng = np.random.default_rng(0)
    shape3, shape2 = (2, 4, 8), (4, 8)
    coords = {"lev": [500.0, 900.0], "lat": np.linspace(-67.5, 67.5, 4), "lon": np.linspace(0, 315, 8)}
    ts = 280.0 + rng.normal(size=shape2)
    if nan:
        ts[0, 0] = np.nan
    ds = xr.Dataset(
        {
            "TS": (("lat", "lon"), ts, {"units": "K"}),
            "FSNT": (("lat", "lon"), 200 + rng.random(shape2), {"units": "W/m2"}),
            "FLNT": (("lat", "lon"), 210 + rng.random(shape2), {"units": "W/m2"}),
            "T": (("lev", "lat", "lon"), 250 + rng.random(shape3), {"units": "K"}),
            "Q": (("lev", "lat", "lon"), 1e-3 * rng.random(shape3), {"units": "kg/kg"}),
            "CLOUD": (("lev", "lat", "lon"), rng.random(shape3), {"units": "fraction"}),
            "U": (("lev", "lat", "lon"), rng.normal(size=shape3), {"units": "m/s"}),
            "V": (("lev", "lat", "lon"), rng.normal(size=shape3), {"units": "m/s"}),
            # CAM's hybrid coordinate, here pure σ: p = 0·P0 + hybm·PS
            "PS": (("lat", "lon"), np.full(shape2, 1e5), {"units": "Pa"}),
            "hyam": (("lev",), np.zeros(2)), "hybm": (("lev",), np.array([0.5, 0.9])), "P0": ((), 1e5, {"units": "Pa"}),
        },
        coords=coords,
    )
    ds.to_netcdf(path)
    return path


def test_ingest_command_writes_the_datacube_and_its_quality_report(tmp_path, capsys):
    import xarray as xr

    mapping = ROOT / "config" / "gcm_mappings" / "exocam.yaml"
    no_time = tmp_path / "exocam_no_time.yaml"
    no_time.write_text(mapping.read_text().replace("  time: time  #", "  # time: time  #"))
    source = write_exocam_file(tmp_path / "run.nc", nan=True)
    out = tmp_path / "cube"
    assert main(["data", "ingest", str(source), "--mapping", str(no_time), "--out", str(out), "--config", str(SMOKE)]) == 0
    cube = xr.open_zarr(out / "climate.zarr", consolidated=False)
    assert cube["temperature"].dims == ("planet", "level", "lat", "lon")
    np.testing.assert_allclose(cube["olr"].values[0], xr.open_dataset(source)["FLNT"].values, rtol=1e-6)
    records = json.loads((out / "quality_report.json").read_text())["records"]
    assert records == [{"source": str(source), "where": "variable surface_temperature", "check": "non_finite",
                        "detail": records[0]["detail"], "action": "flagged", "count": 1}]
    assert "quality: variable surface_temperature: non_finite: 1 values" in capsys.readouterr().out
    # a mapping naming a variable the file lacks: exit 2, nothing written
    broken = tmp_path / "broken.yaml"
    broken.write_text(no_time.read_text().replace("name: TS", "name: TSURF"))
    assert main(["data", "ingest", str(source), "--mapping", str(broken), "--out", str(tmp_path / "x"), "--config", str(SMOKE)]) == 2
    err = capsys.readouterr().err
    assert "TSURF" in err and "run.nc" in err and not (tmp_path / "x").exists()


def test_run_directory_records_the_treatment(tmp_path, data_cache):
    res = run_cli(smoke_args(tmp_path, data_cache, "trainer.max_epochs=1", "components.surrogate.mlp_baseline_epochs=0",
                             "--run-dir", str(tmp_path / "fixed")), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    run = tmp_path / "fixed"
    norm = json.loads((run / "normalisation.json").read_text())
    assert norm["fitted_on"] == "train split (150 planets)" and len(norm["input_mean"]) == 8
    data = json.loads((run / "provenance.json").read_text())["data"]
    assert {k: v["planets"] for k, v in data["splits"].items()} == {"train": 150, "val": 30, "test": 60}
    assert len(data["universe"]["sha256"]) == 64 and len(data["normalisation_sha256"]) == 64
    again = run_cli(smoke_args(tmp_path, data_cache, "--run-dir", str(run)), cwd=tmp_path)
    assert again.returncode == 2 and "is not an empty directory" in again.stderr
    # evaluation of the run reproduces its held-out metrics from the checkpoint alone
    assert main(["evaluate", str(run)]) == 0
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert evaluation["test"] == json.loads((run / "metrics.json").read_text())["test"]


@pytest.mark.slow
def test_dvc_repro_runs_the_pipeline_end_to_end(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__"))
    env = cli_env() | {"DVC_NO_ANALYTICS": "1", "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}

    def run(*args):
        return subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, timeout=900)

    assert run("git", "init", "-q").returncode == 0
    assert run("dvc", "init", "-q").returncode == 0
    first = run("dvc", "repro")
    assert first.returncode == 0, first.stdout + first.stderr
    evaluation = json.loads((repo / "reports" / "evaluation.json").read_text())
    metrics = json.loads((repo / "runs" / "dvc-train" / "metrics.json").read_text())
    assert evaluation["test"] == metrics["test"] and evaluation["global_step"] == 180
    assert (repo / "data" / "dvc" / "reports" / "quality_report.html").is_file()
    second = run("dvc", "repro")
    assert second.returncode == 0 and "didn't change, skipping" in second.stdout


def test_ingest_never_overwrites_a_folder_that_is_not_a_datacube(tmp_path, capsys):
    source = write_exocam_file(tmp_path / "case.cam.h0.0001-01.nc")
    mapping = tmp_path / "m.yaml"
    mapping.write_text((ROOT / "config" / "gcm_mappings" / "exocam.yaml").read_text().replace("  time: time  #", "  # time: time  #"))
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    assert main(["data", "ingest", str(source), "--mapping", str(mapping), "--out", str(precious), "--config", str(SMOKE)]) == 2
    assert "is not an astrotrain datacube" in capsys.readouterr().err
    assert (precious / "thesis.tex").read_text() == "years of work"
    out = tmp_path / "cube"
    for _ in range(2):  # an earlier datacube may be rewritten
        assert main(["data", "ingest", str(source), "--mapping", str(mapping), "--out", str(out), "--config", str(SMOKE)]) == 0
    assert json.loads((out / "manifest.json").read_text())["kind"] == "astrotrain.gcm_datacube"


def test_multi_process_launch_without_a_shared_run_dir_is_refused(tmp_path, data_cache):
    env = cli_env() | {"WORLD_SIZE": "2", "RANK": "0"}
    res = subprocess.run([sys.executable, str(ROOT / "train.py"), *smoke_args(tmp_path, data_cache)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "export ASTROTRAIN_RUN_DIR" in res.stderr
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "config.yaml").write_text("run: {}\n")
    env = cli_env() | {"ASTROTRAIN_RUN_DIR": str(taken)}
    res = subprocess.run([sys.executable, str(ROOT / "train.py"), *smoke_args(tmp_path, data_cache)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "already holds a run" in res.stderr
