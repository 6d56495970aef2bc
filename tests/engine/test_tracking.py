"""Experiment tracking (issue #14): csv/tensorboard/wandb/mlflow read back, bad backends, and the legacy tombstones."""

from __future__ import annotations

import contextlib
import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from astrotrain.cli import main
from tests.conftest import ROOT, SMOKE, cli_env, run_cli, smoke_args
from tests.engine.test_training import the_run

FAST = ["trainer.max_epochs=2", "trainer.check_val_every_n_epoch=1", "components.surrogate.mlp_baseline_epochs=0",
        "logging.monitor_every_n_steps=3"]


def wandb_records(path: Path):
    """The protobuf records of a W&B offline run file (`run-<id>.wandb`): a LevelDB-style log —
    a 7-byte header (':W&B', magic, version), then 32 KiB blocks of chunks (crc32, length, type)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, position, pending = 32768, 7, b""
    while position + 7 <= len(data):
        left = block - position % block
        if left < 7:  # block trailer padding
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position:position + 7])
        chunk = data[position + 7:position + 7 + length]
        position += 7 + length
        if kind == 0 and length == 0:
            continue
        pending += chunk
        if kind in (1, 4):  # FULL or LAST: a whole record
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def test_every_backend_holds_the_config_provenance_and_the_final_metrics_of_metrics_json(tmp_path, data_cache):
    res = run_cli(smoke_args(tmp_path, data_cache, *FAST, "logging.backends=[csv,tensorboard,wandb,mlflow]"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    run = the_run(tmp_path / "runs")
    test = json.loads((run / "metrics.json").read_text())["test"]
    seed = json.loads((run / "provenance.json").read_text())["seed"]
    key = "surface_temperature_rmse_K"

    # CSV: per-step losses and the run-time monitor
    import pandas as pd

    rows = pd.read_csv(run / "logs" / "csv" / "metrics.csv")
    assert rows["train/loss"].notna().sum() > 0 and (rows["perf/samples_per_s"].dropna() > 0).all()
    assert (rows["perf/step_time_ms"].dropna() > 0).all() and rows["perf/grad_norm"].notna().any() and rows["perf/peak_rss_mb"].max() > 50

    # TensorBoard: its own event reader
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "logs" / "tensorboard"))
    events.Reload()
    assert events.Scalars(f"test/{key}")[-1].value == pytest.approx(test[key], rel=1e-6)
    assert events.Scalars(f"final/test/{key}")[-1].value == pytest.approx(test[key], rel=1e-6)

    # W&B: the offline run file
    (wandb_file,) = (run / "logs" / "wandb").glob("offline-run-*/run-*.wandb")
    history, config = {}, {}
    for record in wandb_records(wandb_file):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.update({item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item})
        elif kind == "config":
            config.update({item.key: json.loads(item.value_json) for item in record.config.update})
    assert history[f"final/test/{key}"] == pytest.approx(test[key], rel=1e-12)
    assert config["components.surrogate.lr"] == 0.002 and config["provenance.seed"] == seed

    # MLflow: search_runs on the local store
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{(tmp_path / 'runs' / 'mlflow.db').resolve()}")
    runs = mlflow.search_runs(experiment_names=["astrotrain"])
    assert len(runs) == 1
    found = runs.iloc[0]
    assert found[f"metrics.final/test/{key}"] == pytest.approx(test[key], rel=1e-12)
    assert found[f"metrics.test/{key}"] == pytest.approx(test[key], rel=1e-6)
    assert found["params.components.surrogate.lr"] == "0.002" and found["params.provenance.seed"] == str(seed)
    assert found["tags.astrotrain.run_dir"] == str(run.resolve())


def test_a_missing_extra_an_unknown_backend_and_a_silent_mlflow_server_exit_2_before_anything_is_written(tmp_path, data_cache, monkeypatch):
    import importlib.util

    from astrotrain.engine import tracking

    real = importlib.util.find_spec
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    out = tmp_path / "runs"
    cases = [("logging.backends=[csv,wandb]", "pip install 'astrotrain[wandb]'"),
             ("logging.backends=[csv,neptune]", "logging.backends.1"),
             ("logging.backends=[mlflow]", "http://127.0.0.1:9"),]
    for override, needle in cases:
        extra = ["logging.mlflow_tracking_uri=http://127.0.0.1:9"] if "mlflow" in override else []
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            rc = main(["--config", str(SMOKE), f"run.output_dir={out}", f"data.universe.cache_dir={data_cache}", override, *extra])
        assert rc == 2 and needle in stderr.getvalue(), (override, stderr.getvalue())
        assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("script, flag", [("train_cube.py", []), ("train_enhanced_cube.py", ["--physics-constraints"])])
def test_a_legacy_script_forwards_and_gives_the_run_of_the_direct_command(tmp_path, data_cache, script, flag):
    common = ["--config", str(SMOKE), f"data.universe.cache_dir={data_cache}", "trainer.max_steps=6"]
    legacy = subprocess.run([sys.executable, str(ROOT / "archive" / script), *common, "--epochs", "2", "--batch-size", "4", "--seed", "5",
                             "--output-dir", str(tmp_path / "legacy")], cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert legacy.returncode == 0, legacy.stderr[-3000:]
    assert f"archive/{script} is deprecated" in legacy.stderr and "python train.py --component datacube" in legacy.stderr
    direct = run_cli([*common, "--component", "datacube", *flag, "components.datacube.max_epochs=2", "components.datacube.batch_size=4",
                      "--seed", "5", f"run.output_dir={tmp_path / 'direct'}"], cwd=tmp_path, timeout=600)
    assert direct.returncode == 0, direct.stderr[-3000:]
    metrics = [json.loads((the_run(tmp_path / d) / "metrics.json").read_text()) for d in ("legacy", "direct")]
    assert metrics[0]["test"] == metrics[1]["test"] and metrics[0]["global_step"] == 6
    config = [json.loads(json.dumps(__import__("yaml").safe_load((the_run(tmp_path / d) / "config.yaml").read_text()))) for d in ("legacy", "direct")]
    assert config[0]["physics"] == config[1]["physics"] == {"constraints": bool(flag)}


def test_a_legacy_flag_it_never_had_is_refused_with_the_list(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "archive" / "train_cube.py"), "--warmup", "5"], cwd=tmp_path, env=cli_env(),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "does not know --warmup" in res.stderr and "--epochs" in res.stderr and "MIGRATION.md" in res.stderr


def test_the_run_monitor_writes_its_rows_whatever_the_log_cadence(tmp_path, data_cache):
    """Monitor every 6 steps, Lightning's logging every 4: the monitor's rows are written on its own
    steps (batches 0, 6, 12 of 18, under the step Lightning logs their losses with), not only where the
    two cadences meet; its gradient norm is the one before clipping."""
    import pandas as pd

    from tests.engine.test_training import train_in_process

    run = train_in_process(tmp_path, data_cache, "trainer.max_epochs=2", "components.surrogate.mlp_baseline_epochs=0",
                           "trainer.log_every_n_steps=4", "logging.monitor_every_n_steps=6", "trainer.gradient_clip_val=1e-6")
    rows = pd.read_csv(run.run_dir / "logs" / "csv" / "metrics.csv")
    monitored = rows[rows["perf/step_time_ms"].notna()]
    assert monitored["step"].tolist() == [0, 6, 12] and run.metrics["global_step"] == 18
    assert (monitored["perf/samples_per_s"] > 0).all() and (monitored["perf/grad_norm"] > 1e-3).all()  # not the clipped 1e-6
