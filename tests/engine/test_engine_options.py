"""Engine options: mixed precision, TensorBoard, DDP on CPU, the data command."""

from __future__ import annotations

import json
import math

import pytest

from astrotrain.cli import main
from tests.conftest import ROOT, SMOKE, run_cli, smoke_args

FAST = ["trainer.max_epochs=2", "components.surrogate.mlp_baseline_epochs=0"]


def only_run(path):
    (run,) = [p for p in path.iterdir() if p.is_dir()]
    return run


def test_mixed_precision_on_cpu_is_bf16_and_trains(tmp_path, data_cache):
    from astrotrain.engine.trainer import resolve_precision

    assert resolve_precision("mixed", "cpu") == "bf16-mixed"
    assert resolve_precision("32-true", "cpu") == "32-true"
    res = run_cli(smoke_args(tmp_path, data_cache, *FAST, "--mixed-precision"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    run = only_run(tmp_path / "runs")
    metrics = json.loads((run / "metrics.json").read_text())["test"]
    assert all(math.isfinite(v) for v in metrics.values())
    assert json.loads((run / "metrics.json").read_text())["precision"] == "bf16-mixed"


def test_16_mixed_on_cpu_and_gpu_without_cuda_are_clear_errors(tmp_path, data_cache, capsys):
    res = run_cli(smoke_args(tmp_path, data_cache, "trainer.precision=16-mixed"), cwd=tmp_path)
    assert res.returncode == 2 and "16-mixed needs a GPU" in res.stderr
    res = run_cli(smoke_args(tmp_path, data_cache, "trainer.accelerator=gpu"), cwd=tmp_path)
    assert res.returncode == 2 and "no CUDA GPU is visible" in res.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_data_generate_command_builds_then_reuses(tmp_path, capsys):
    args = ["data", "generate", "--config", str(SMOKE), "--no-progress", f"data.universe.cache_dir={tmp_path}", "data.universe.n_planets=20"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("generated universe:") and "planets: 20" in first
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("reused universe:")
    assert main(["data", "generate", "--config", str(ROOT / "nope.yaml")]) == 2


@pytest.mark.slow
def test_distributed_two_cpu_processes_finish_in_one_run_dir(tmp_path, data_cache):
    res = run_cli(smoke_args(tmp_path, data_cache, "--distributed", "--gpus", "2", "trainer.max_epochs=4",
                             "components.surrogate.mlp_baseline_epochs=0"), cwd=tmp_path, timeout=900)
    assert res.returncode == 0, res.stderr
    run = only_run(tmp_path / "runs")  # both ranks joined rank 0's run directory
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    # 150 train planets sharded over 2 ranks: 75 each → 4 steps of 16 per epoch, 4 epochs
    assert metrics["global_step"] == 16
    assert math.isfinite(metrics["test"]["surface_temperature_rmse_K"])
