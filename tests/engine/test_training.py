"""The engine: same seed → same bytes, bitwise-exact mid-epoch resume, safe checkpoints, bad input."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import torch

from astrotrain.config.loader import load_config
from astrotrain.engine.runner import train_component
from astrotrain.runs.checkpoints import load_verified
from tests.conftest import SMOKE, run_cli, smoke_args

# 150 train planets / batch 16 → 9 steps per epoch; 3 epochs = 27 steps; stop at 13 = mid-epoch 2
SHORT = ["trainer.max_epochs=3", "trainer.checkpoint_every_n_steps=1",
         "trainer.check_val_every_n_epoch=1", "components.surrogate.mlp_baseline_epochs=0"]


def the_run(runs: Path) -> Path:
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    return run


def train_in_process(tmp_path: Path, data_cache: Path, *overrides: str):
    cfg, tree = load_config(SMOKE, [f"run.output_dir={tmp_path / 'runs'}", f"data.universe.cache_dir={data_cache}", *overrides])
    return train_component(cfg, tree)


def assert_same_tree(a, b, path="checkpoint"):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_same_tree(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tree(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def step_losses(run: Path) -> dict[int, str]:
    """train/loss per step as the exact text written by the CSV logger."""
    with open(run / "logs" / "csv" / "metrics.csv") as handle:
        return {int(row["step"]): row["train/loss"] for row in csv.DictReader(handle) if row.get("train/loss")}


def test_same_seed_gives_bitwise_identical_weights(tmp_path, data_cache):
    a = train_in_process(tmp_path / "a", data_cache, *SHORT)
    b = train_in_process(tmp_path / "b", data_cache, *SHORT)
    sa = load_verified(a.run_dir / "checkpoints" / "last.ckpt")["state_dict"]
    sb = load_verified(b.run_dir / "checkpoints" / "last.ckpt")["state_dict"]
    assert_same_tree(sa, sb)
    c = train_in_process(tmp_path / "c", data_cache, *SHORT, "run.seed=1")
    sc = load_verified(c.run_dir / "checkpoints" / "last.ckpt")["state_dict"]
    assert not torch.equal(sa["model.queries"], sc["model.queries"])
    assert a.metrics["test"] == b.metrics["test"]


def test_mid_epoch_resume_in_a_new_process_is_bitwise_exact(tmp_path, data_cache):
    full = run_cli(smoke_args(tmp_path / "full", data_cache, *SHORT), cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    stopped = run_cli(smoke_args(tmp_path / "split", data_cache, *SHORT, "trainer.stop_after_steps=13"), cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    run = the_run(tmp_path / "split" / "runs")
    interrupted = load_verified(run / "checkpoints" / "last.ckpt")
    assert interrupted["global_step"] == 13 and interrupted["epoch"] == 1  # mid-epoch: 13 = 9 + 4
    assert not (run / "metrics.json").exists() or "test" not in json.loads((run / "metrics.json").read_text())

    resumed = run_cli(["--resume", str(run), "trainer.stop_after_steps=null"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    a = load_verified(the_run(tmp_path / "full" / "runs") / "checkpoints" / "last.ckpt")
    b = load_verified(run / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"] == 27
    for key in ("state_dict", "optimizer_states", "lr_schedulers"):
        assert_same_tree(a[key], b[key], key)
    rng_key = next(k for k in a["callbacks"] if "RNGState" in k)
    assert_same_tree(a["callbacks"][rng_key], b["callbacks"][rng_key], "rng")
    losses_full, losses_split = step_losses(the_run(tmp_path / "full" / "runs")), step_losses(run)
    assert len(losses_full) == 27 and losses_split == losses_full
    full_metrics = json.loads((the_run(tmp_path / "full" / "runs") / "metrics.json").read_text())
    split_metrics = json.loads((run / "metrics.json").read_text())
    assert full_metrics["test"] == split_metrics["test"]
    provenance = json.loads((run / "provenance.json").read_text())
    assert len(provenance["resumes"]) == 1


def test_resume_with_a_different_config_refuses_unless_forced(tmp_path, data_cache):
    assert run_cli(smoke_args(tmp_path, data_cache, *SHORT, "trainer.stop_after_steps=3"), cwd=tmp_path).returncode == 0
    run = the_run(tmp_path / "runs")
    refused = run_cli(["--resume", str(run), "components.surrogate.lr=0.05"], cwd=tmp_path)
    assert refused.returncode == 2
    assert "was trained with a different config" in refused.stderr
    assert "components.surrogate.lr: 0.002 → 0.05" in refused.stderr and "--force-config-change" in refused.stderr
    forced = run_cli(["--resume", str(run), "components.surrogate.lr=0.05", "trainer.stop_after_steps=5", "--force-config-change"], cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert load_verified(run / "checkpoints" / "last.ckpt")["global_step"] == 3 + 5  # 5 steps of its own


def test_corrupt_or_foreign_checkpoints_are_refused(tmp_path, data_cache):
    assert run_cli(smoke_args(tmp_path, data_cache, *SHORT, "trainer.stop_after_steps=2"), cwd=tmp_path).returncode == 0
    run = the_run(tmp_path / "runs")
    ckpt = run / "checkpoints" / "last.ckpt"
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    ckpt.write_bytes(bytes(data))
    res = run_cli(["--resume", str(ckpt)], cwd=tmp_path)
    assert res.returncode == 2 and "is corrupt: sha256" in res.stderr
    ckpt.write_bytes(bytes(data[: len(data) // 3]))  # truncated
    res = run_cli(["--resume", str(ckpt)], cwd=tmp_path)
    assert res.returncode == 2 and "is corrupt" in res.stderr
    foreign = run / "checkpoints" / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    res = run_cli(["--resume", str(foreign)], cwd=tmp_path)
    assert res.returncode == 2 and "has no manifest" in res.stderr


def test_unwritable_output_dir_exits_2_without_a_run_dir(tmp_path, data_cache):
    if os.geteuid() == 0:  # root passes permission bits; /proc refuses new directories even to root
        target, needle = Path("/proc/astrotrain-runs"), "cannot create a run directory under /proc/astrotrain-runs"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target, needle = locked / "runs", "is not writable"
    res = run_cli(smoke_args(tmp_path, data_cache, f"run.output_dir={target}"), cwd=tmp_path)
    assert res.returncode == 2 and needle in res.stderr, res.stderr
    assert not target.exists()


def test_output_dir_that_is_a_file_exits_2_and_writes_nothing(tmp_path, data_cache):
    blocker = tmp_path / "runs-file"
    blocker.write_text("not a directory")
    res = run_cli(smoke_args(tmp_path, data_cache, f"run.output_dir={blocker}"), cwd=tmp_path)
    assert res.returncode == 2 and "exists and is not a directory" in res.stderr
    assert blocker.read_text() == "not a directory"
    res = run_cli(smoke_args(tmp_path, data_cache, f"run.output_dir={blocker / 'below'}"), cwd=tmp_path)
    assert res.returncode == 2 and "exists and is not a directory" in res.stderr


def test_setup_error_after_the_run_dir_exists_removes_it(tmp_path, data_cache):
    res = run_cli(smoke_args(tmp_path, data_cache, "components.surrogate.n_components=500"), cwd=tmp_path)
    assert res.returncode == 2 and "components.surrogate.n_components=500" in res.stderr
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir())


def test_run_directory_holds_config_overrides_provenance_metrics(tmp_path, data_cache):
    result = train_in_process(tmp_path, data_cache, *SHORT)
    run = result.run_dir
    for name in ("config.yaml", "overrides.yaml", "provenance.json", "metrics.json", "checkpoints/last.ckpt", "logs/csv/metrics.csv"):
        assert (run / name).exists(), name
    provenance = json.loads((run / "provenance.json").read_text())
    assert provenance["seed"] == 0
    assert provenance["packages"]["torch"].startswith("2.13.0")
    assert len(provenance["data"]["universe"]["sha256"]) == 64
    assert set(provenance["git"]) == {"sha", "dirty"}
    manifest = json.loads((run / "checkpoints" / "last.ckpt.manifest.json").read_text())
    assert manifest["global_step"] == 27 and len(manifest["sha256"]) == 64
    assert manifest["config"]["trainer"]["max_epochs"] == 3
    import yaml

    assert yaml.safe_load((run / "overrides.yaml").read_text())["trainer"]["max_epochs"] == 3
