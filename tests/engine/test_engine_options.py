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



def _test_metrics(run) -> dict:
    return json.loads((run / "metrics.json").read_text())["test"]


def _max_relative_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-12) for k in a)


@pytest.mark.slow
def test_fused_optimizer_and_channels_last_train_the_reference_model(tmp_path, data_cache):
    """`trainer.optimizer_kernel=fused` and `trainer.channels_last=true` are speed settings: the datacube trained
    with them scores the reference run's test metrics up to float rounding, its checkpoint's AdamW groups are
    fused, and its parameter names are the reference's (checkpoints stay interchangeable). Weights are not
    compared one by one: the biases in front of a GroupNorm get a gradient that is rounding noise (zero in exact
    arithmetic), which Adam normalises to learning-rate-sized steps of either sign under either kernel."""
    from astrotrain.runs.checkpoints import load_verified

    runs = {}
    for name, options in {"reference": [], "fast": ["trainer.optimizer_kernel=fused", "trainer.channels_last=true"]}.items():
        out = tmp_path / name
        res = run_cli(smoke_args(out, data_cache, "--component", "datacube", "components.datacube.max_epochs=2", *options), cwd=out.parent)
        assert res.returncode == 0, res.stderr[-3000:]
        runs[name] = only_run(out / "runs")
    fast, reference = (load_verified(runs[n] / "checkpoints" / "last.ckpt") for n in ("fast", "reference"))
    assert all(g["fused"] and not g["foreach"] for g in fast["optimizer_states"][0]["param_groups"])
    assert fast["state_dict"].keys() == reference["state_dict"].keys()
    assert _max_relative_difference(_test_metrics(runs["fast"]), _test_metrics(runs["reference"])) < 1e-3


@pytest.mark.slow
def test_compiled_module_trains_the_eager_model(tmp_path, data_cache):
    """`trainer.compile=true` (TorchInductor) trains the surrogate to the eager run's test metrics up to float rounding."""
    runs = {}
    for name, options in {"eager": [], "compiled": ["trainer.compile=true"]}.items():
        out = tmp_path / name
        res = run_cli(smoke_args(out, data_cache, "trainer.max_epochs=2", "components.surrogate.mlp_baseline_epochs=0",
                                 "components.surrogate.dropout=0", *options), cwd=out.parent, timeout=900)
        assert res.returncode == 0, res.stderr[-3000:]
        runs[name] = only_run(out / "runs")
    assert _max_relative_difference(_test_metrics(runs["compiled"]), _test_metrics(runs["eager"])) < 1e-3
