"""A run started from another: --init-from (weights by name, a report of what did not fit, freezing,
learning-rate multipliers, --strict-init) and --resume --fork (the exact state in a new run directory)."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from astrotrain.runs.checkpoints import load_verified
from tests.conftest import run_astrotrain, run_cli, smoke_args
from tests.engine.test_training import SHORT, assert_same_tree

STOP = ["trainer.stop_after_steps=13"]  # mid-epoch 2 of 3


def tree_digest(folder: Path) -> str:
    """sha256 over every file's path and bytes: any write to the folder changes it."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def new_run(runs: Path, before: set[Path]) -> Path:
    (run,) = [p for p in runs.iterdir() if p.is_dir() and p not in before]
    return run


@pytest.fixture(scope="module")
def parent(tmp_path_factory, data_cache) -> Path:
    """A surrogate run stopped (checkpointed) at step 13 of 27."""
    tmp = tmp_path_factory.mktemp("parent")
    res = run_cli(smoke_args(tmp, data_cache, *SHORT, *STOP, "run.name=parent"), cwd=tmp)
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = (tmp / "runs").iterdir()
    return run


def test_a_fork_continues_the_exact_state_in_a_new_run_and_leaves_the_original_untouched(parent, tmp_path):
    runs = tmp_path / "runs"
    parent = Path(shutil.copytree(parent, runs / parent.name))  # this test resumes it: the other tests keep theirs at step 13
    before = tree_digest(parent)
    existing = set(runs.iterdir())
    # a changed config that does not change the arithmetic: the fork must end where the original run would
    res = run_cli(["--resume", str(parent), "--fork", "run.name=fork", f"run.output_dir={runs}", "trainer.log_every_n_steps=3",
                   "trainer.stop_after_steps=null"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    fork = new_run(runs, existing)
    assert tree_digest(parent) == before  # not one byte of the original changed
    lineage = json.loads((fork / "provenance.json").read_text())["lineage"]
    assert lineage["kind"] == "fork" and lineage["global_step"] == 13 and Path(lineage["run"]) == parent.resolve()
    assert lineage["checkpoint_sha256"] == hashlib.sha256((parent / "checkpoints" / "last.ckpt").read_bytes()).hexdigest()
    assert lineage["config_changes"][0] == "run.name: 'parent' → 'fork'" and lineage["config_changes"][2:] == [
        "trainer.log_every_n_steps: 1 → 3", "trainer.stop_after_steps: 13 → None"]
    # the original, resumed to its end, reaches the fork's final state bit for bit
    res = run_cli(["--resume", str(parent), "trainer.stop_after_steps=null"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    ours, theirs = load_verified(fork / "checkpoints" / "last.ckpt"), load_verified(parent / "checkpoints" / "last.ckpt")
    assert ours["global_step"] == theirs["global_step"] == 27
    assert_same_tree(ours["state_dict"], theirs["state_dict"])
    assert_same_tree(ours["optimizer_states"], theirs["optimizer_states"])
    # the fork's CSV log starts at step 0: the parent's rows up to the fork, then its own
    with open(fork / "logs" / "csv" / "metrics.csv") as handle:
        steps = sorted({int(row["step"]) for row in csv.DictReader(handle) if row.get("train/loss")})
    assert steps == [*range(13), *range(14, 27, 3)]  # every step of the parent's, then every third (trainer.log_every_n_steps=3)
    listing = run_astrotrain(["runs", str(runs), "--format", "json"], cwd=tmp_path)
    parents = {Path(r["run"]).name: r["parent"] for r in json.loads(listing.stdout)}
    assert parents[fork.name].startswith(f"fork of {parent.name}@13") and parents[parent.name] == "fresh"


def test_init_from_loads_by_name_reports_what_does_not_fit_freezes_and_scales_learning_rates(parent, tmp_path, data_cache):
    res = run_cli(smoke_args(tmp_path, data_cache, *SHORT, "--init-from", str(parent), "components.surrogate.n_layers=2",
                             "components.surrogate.n_components=6", "init.freeze=[model.tokenizer]", "init.lr_multiplier=0.25"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    (child,) = (tmp_path / "runs").iterdir()
    lineage = json.loads((child / "provenance.json").read_text())["lineage"]
    fresh = {f["name"]: f for f in lineage["fresh"]}
    assert fresh["model.encoder.layers.1.linear1.weight"]["parent_shape"] is None  # a layer the parent lacks
    # fewer PCA modes: the basis cannot be the parent's, so this run fits its own, and all of it stays this run's
    assert fresh["model.pca_components"]["shape"][1] == 6 and fresh["model.pca_components"]["parent_shape"][1] == 8
    assert lineage["treatment"] == "fitted on this run's training split"
    assert fresh["model.pca_scale"]["parent_shape"] == fresh["model.pca_scale"]["shape"]  # same shape, yet not the parent's
    assert "model.encoder.layers.0.linear1.weight" not in fresh and lineage["skipped"] == []
    assert lineage["frozen"] == ["model.tokenizer.bias", "model.tokenizer.identity", "model.tokenizer.weight"]
    assert f"weights: init from {parent.name}@13" in res.stdout

    start = load_verified(parent / "checkpoints" / "last.ckpt")["state_dict"]
    end = load_verified(child / "checkpoints" / "last.ckpt")
    state = end["state_dict"]
    for name in lineage["frozen"]:  # trained for 27 steps, yet the frozen weights are the parent's, bit for bit
        assert torch.equal(state[name], start[name]), name
    assert not torch.equal(state["model.encoder.layers.0.linear1.weight"], start["model.encoder.layers.0.linear1.weight"])
    # the loaded weights train at lr × 0.25, the fresh ones at lr; frozen ones are in no group at all
    groups = end["optimizer_states"][0]["param_groups"]
    lr = yaml.safe_load((child / "config.yaml").read_text())["components"]["surrogate"]["lr"]
    assert sorted({round(g["initial_lr"] / lr, 6) for g in groups}) == [0.25, 1.0]
    report = (child / "report.html").read_text()
    assert "freshly initialised" in report and "model.encoder.layers.1.linear1.weight" in report


def test_strict_init_refuses_a_reshaped_model_before_writing_and_accepts_the_same_one(parent, tmp_path, data_cache):
    res = run_cli(smoke_args(tmp_path, data_cache, *SHORT, "--init-from", str(parent), "--strict-init", "components.surrogate.n_layers=2"), cwd=tmp_path)
    assert res.returncode == 2
    assert "--strict-init" in res.stderr and "model.encoder.layers.1.self_attn.in_proj_weight: here [96, 32], parent absent" in res.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing half-written
    res = run_cli(smoke_args(tmp_path, data_cache, *SHORT, "--init-from", str(parent), "--strict-init", "trainer.max_epochs=1"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    (child,) = (tmp_path / "runs").iterdir()
    lineage = json.loads((child / "provenance.json").read_text())["lineage"]
    assert lineage["fresh"] == [] and lineage["skipped"] == [] and lineage["loaded"] == len(load_verified(parent / "checkpoints" / "last.ckpt")["state_dict"])


@pytest.mark.parametrize("extra, named", [
    (["init.freeze=[model.encoder]"], "init.checkpoint"),  # freezing without a parent
    (["--init-from", "nowhere"], "--init-from nowhere"),
    (["--init-from", "PARENT", "--resume", "PARENT"], "--init-from"),
    (["--fork"], "--fork goes with --resume"),
    (["--init-from", "PARENT", "init.freeze=[model.no_such_module]"], "init.freeze: 'model.no_such_module'"),
    (["--init-from", "PARENT", "--component", "evolution"], "a surrogate model, this run trains evolution"),
    (["--init-from", "PARENT", "init.freeze=[model]"], "freezes every parameter"),
    (["--resume", "PARENT", "--fork", "components.surrogate.lr=0.01"], "components.surrogate.lr would not take effect"),
    (["--resume", "PARENT", "--fork", "components.surrogate.n_layers=2"], "--fork restores"),  # another architecture
])
def test_bad_lineage_requests_name_the_key_and_write_nothing(parent, tmp_path, data_cache, extra, named):
    extra = [str(parent) if e == "PARENT" else e for e in extra]
    res = run_cli(smoke_args(tmp_path, data_cache, *extra), cwd=tmp_path)
    assert res.returncode == 2, res.stderr[-2000:]
    assert named in res.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_run_written_before_the_schema_gained_keys_resumes_when_they_keep_their_defaults():
    """The master config as the release before `init` and the galactic resource keys wrote it (a real file of
    that commit): the same config today, unless a new key is given another value."""
    from astrotrain.config.loader import load_config
    from astrotrain.config.schema import RESUME_SAFE_KEYS, MasterConfig
    from astrotrain.runs.checkpoints import config_fingerprint, same_config_but_newer_schema

    old_file = Path(__file__).parent / "data" / "master_training_337665a.yaml"
    old = yaml.safe_load(old_file.read_text())
    assert "init" not in old and "client_cpus" not in old["components"]["galactic"]
    defaults = MasterConfig().model_dump(mode="json")
    config = load_config(old_file, [])[0].model_dump(mode="json")
    assert config_fingerprint(config, RESUME_SAFE_KEYS) != config_fingerprint(old, RESUME_SAFE_KEYS)  # the schema did grow
    assert same_config_but_newer_schema(old, config_fingerprint(old, RESUME_SAFE_KEYS), config, RESUME_SAFE_KEYS, defaults)
    for changed in ({**config, "init": {**config["init"], "lr_multiplier": 0.5}}, {**config, "run": {**config["run"], "seed": 7}}):
        assert not same_config_but_newer_schema(old, config_fingerprint(old, RESUME_SAFE_KEYS), changed, RESUME_SAFE_KEYS, defaults)


@pytest.mark.slow
def test_an_init_from_run_resumes_bitwise_with_its_frozen_modules_lr_scales_and_adopted_basis(parent, tmp_path, data_cache):
    start = ("--init-from", str(parent), "init.freeze=[model.tokenizer]", "init.lr_multiplier=0.25")
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    for folder, extra in ((whole, ()), (stopped, STOP)):
        folder.mkdir()
        res = run_cli(smoke_args(folder, data_cache, *SHORT, *start, *extra), cwd=folder)
        assert res.returncode == 0, res.stderr[-3000:]
    (run,) = (stopped / "runs").iterdir()
    assert json.loads((run / "provenance.json").read_text())["lineage"]["treatment"] == "adopted from the parent"
    res = run_cli(["--resume", str(run), "trainer.stop_after_steps=null"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    (reference,) = (whole / "runs").iterdir()
    ours, theirs = load_verified(run / "checkpoints" / "last.ckpt"), load_verified(reference / "checkpoints" / "last.ckpt")
    assert_same_tree(ours["state_dict"], theirs["state_dict"])
    assert_same_tree(ours["optimizer_states"], theirs["optimizer_states"])
