"""Reliability (issue #12): kill anywhere and resume exactly, crash-safe checkpoints, safe loading,
preemption, the divergence guard. Faults are injected with ASTROTRAIN_FAULT (astrotrain/faults.py)."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from astrotrain.runs.checkpoints import load_verified, manifest_path, read_manifest
from tests.conftest import ROOT, cli_env, run_cli, smoke_args
from tests.engine.test_training import SHORT, assert_same_tree, step_losses, the_run

STEPS = 27  # SHORT: 3 epochs × 9 steps, validation after each epoch (steps 9, 18, 27), a checkpoint every step


def faulty(args: list[str], cwd: Path, fault: str | None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = cli_env()
    if fault:
        env["ASTROTRAIN_FAULT"] = fault
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def assert_same_training(reference: Path, run: Path, steps: int = STEPS) -> None:
    """Weights, optimiser, scheduler, RNG streams, per-step losses and test metrics: bitwise equal."""
    a, b = load_verified(reference / "checkpoints" / "last.ckpt"), load_verified(run / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"] == steps
    for key in ("state_dict", "optimizer_states", "lr_schedulers"):
        assert_same_tree(a[key], b[key], key)
    rng = next(k for k in a["callbacks"] if "RNGState" in k)
    assert_same_tree(a["callbacks"][rng], b["callbacks"][rng], "rng")
    assert step_losses(run) == step_losses(reference) and len(step_losses(reference)) == steps
    assert json.loads((run / "metrics.json").read_text())["test"] == json.loads((reference / "metrics.json").read_text())["test"]


LONG = [*SHORT, "trainer.max_epochs=8"]  # 72 steps: room for 20 kills (validation after steps 9, 18, ..., 72)
LONG_STEPS = 72
KINDS = ["train-step", "mid-write", "validation", "before-rename", "train-step", "after-rename"]


def uninterrupted(tmp: Path, data_cache: Path, overrides: list[str]) -> Path:
    """The uninterrupted run every interrupted one must reproduce."""
    res = run_cli(smoke_args(tmp, data_cache, *overrides), cwd=tmp)
    assert res.returncode == 0, res.stderr[-3000:]
    return the_run(tmp / "runs")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_cache) -> Path:
    return uninterrupted(tmp_path_factory.mktemp("reference"), data_cache, SHORT)


@pytest.fixture(scope="module")
def long_reference(tmp_path_factory, data_cache) -> Path:
    return uninterrupted(tmp_path_factory.mktemp("long-reference"), data_cache, LONG)


def next_fault(rng: random.Random, i: int, resumed: int) -> str:
    """The i-th SIGKILL, placed beyond `resumed` (the step the next process resumes from): at the start of
    a random step (mid-epoch), in the next validation, or inside the k-th checkpoint file this process
    writes (mid-write, before or after the rename)."""
    kind = KINDS[i % len(KINDS)]
    if kind == "train-step":
        return f"kill:train-step:{resumed + rng.randint(1, 2)}"
    if kind == "validation":
        return f"kill:validation:{resumed + 1}"
    return f"kill:{kind}:{rng.randint(1, 3)}"


@pytest.mark.slow
def test_sigkill_at_20_points_then_resume_auto_reproduces_the_uninterrupted_run_bitwise(tmp_path, data_cache, long_reference):
    from astrotrain.runs.checkpoints import newest_checkpoint

    runs, rng, faults = tmp_path / "runs", random.Random(12), []
    for i in range(20):
        resumed = read_manifest(newest_checkpoint(the_run(runs) / "checkpoints"))["global_step"] if i else 0
        faults.append(next_fault(rng, i, resumed))
        args = smoke_args(tmp_path, data_cache, *LONG) if i == 0 else ["--resume", "auto", f"run.output_dir={runs}"]
        res = faulty(args, tmp_path, faults[-1])
        assert res.returncode == -signal.SIGKILL, (faults, res.returncode, res.stderr[-3000:])  # every one of the 20 struck
    assert sum(f.startswith("kill:validation") for f in faults) == 3 and sum("write" in f or "rename" in f for f in faults) == 10
    final = faulty(["--resume", "auto", f"run.output_dir={runs}"], tmp_path, None)
    assert final.returncode == 0, final.stderr[-3000:]
    assert_same_training(long_reference, the_run(runs), LONG_STEPS)


def test_a_kill_mid_epoch_and_one_inside_a_checkpoint_write_resume_bitwise(tmp_path, data_cache, reference):
    runs = tmp_path / "runs"
    assert faulty(smoke_args(tmp_path, data_cache, *SHORT), tmp_path, "kill:train-step:13").returncode == -signal.SIGKILL
    assert faulty(["--resume", "auto", f"run.output_dir={runs}"], tmp_path, "kill:before-rename:3").returncode == -signal.SIGKILL
    assert list((the_run(runs) / "checkpoints").glob(".*.ckpt.*.tmp"))  # the write killed before its rename left one
    res = faulty(["--resume", "auto", f"run.output_dir={runs}"], tmp_path, None)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "--resume auto: " in res.stdout
    assert_same_training(reference, the_run(runs))
    assert not list((the_run(runs) / "checkpoints").glob(".*.tmp"))  # swept on resume


WRITER = """
import sys, itertools, torch, io
from astrotrain.runs.checkpoints import write_checkpoint
path, start = sys.argv[1], int(sys.argv[2])
for version in itertools.count(start):
    buffer = io.BytesIO()
    torch.save({"version": version, "weights": torch.full((250_000,), float(version))}, buffer)
    write_checkpoint(path, buffer.getvalue(), {"global_step": version})
    if version == start:
        print("ready", flush=True)
"""


@pytest.mark.slow
def test_100_kills_during_checkpoint_writes_never_leave_an_unloadable_latest_checkpoint(tmp_path):
    path = tmp_path / "checkpoints" / "last.ckpt"
    rng = random.Random(0)
    version, versions_seen = 0, set()
    for _ in range(100):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(version)], env=cli_env(), stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        subprocess.run(["sleep", f"{rng.uniform(0.0, 0.08):.3f}"])  # somewhere inside the next writes
        child.send_signal(signal.SIGKILL)
        child.wait()
        entry = read_manifest(path)  # raises if the latest checkpoint does not verify
        state = load_verified(path)
        assert int(state["version"]) == entry["global_step"] and float(state["weights"][0]) == entry["global_step"]
        assert entry["global_step"] >= version  # never older than what the last process completed first
        versions_seen.add(entry["global_step"])
        version = entry["global_step"] + 1
    assert len(versions_seen) == 100


def test_truncated_or_bit_flipped_checkpoints_are_named_and_resume_auto_falls_back(tmp_path, data_cache):
    assert run_cli(smoke_args(tmp_path, data_cache, *SHORT, "trainer.stop_after_steps=6", "trainer.keep_checkpoints=3"), cwd=tmp_path).returncode == 0
    run = the_run(tmp_path / "runs")
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])  # truncated
    res = run_cli(["--resume", str(run)], cwd=tmp_path)
    assert res.returncode == 2 and f"checkpoint {last} is corrupt" in res.stderr and "--resume auto" in res.stderr
    newest = run / "checkpoints" / "step=0000006.ckpt"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0x10  # one flipped bit in the newest step checkpoint too
    newest.write_bytes(bytes(data))
    res = run_cli(["--resume", "auto", f"run.output_dir={tmp_path / 'runs'}", "trainer.stop_after_steps=1"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"--resume auto: {run / 'checkpoints' / 'step=0000005.ckpt'}" in res.stdout
    assert "skipped last.ckpt (checkpoint" in res.stdout and "step=0000006.ckpt" in res.stdout
    assert load_verified(last)["global_step"] == 6  # 5 + the one step asked for


def test_a_malicious_pickle_in_place_of_a_checkpoint_is_refused_without_running(tmp_path, data_cache):
    assert run_cli(smoke_args(tmp_path, data_cache, *SHORT, "trainer.stop_after_steps=2"), cwd=tmp_path).returncode == 0
    run = the_run(tmp_path / "runs")
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    last = run / "checkpoints" / "last.ckpt"
    payload = pickle.dumps({"state_dict": Exploit()})
    last.write_bytes(payload)
    manifest = json.loads(manifest_path(last).read_text())
    import hashlib

    manifest["sha256"] = hashlib.sha256(payload).hexdigest()  # the attacker rewrote the manifest too
    manifest_path(last).write_text(json.dumps(manifest))
    res = run_cli(["--resume", str(run)], cwd=tmp_path)
    assert res.returncode == 2 and "cannot be loaded safely (weights_only=True)" in res.stderr
    assert not marker.exists()
    with pytest.raises(Exception):
        load_verified(last)
    assert not marker.exists()
    pickle.loads(payload)  # the control: unpickled without the guard, it does run
    assert marker.exists()


def test_sigterm_checkpoints_the_step_exits_143_and_resumes_bitwise(tmp_path, data_cache, reference):
    res = faulty(smoke_args(tmp_path, data_cache, *SHORT), tmp_path, "term:train-step:11")
    assert res.returncode == 143, res.stderr[-3000:]
    run = the_run(tmp_path / "runs")
    assert load_verified(run / "checkpoints" / "last.ckpt")["global_step"] == 12  # the step under way finished, then stop
    assert "signal 15 (preempted)" in res.stdout and "--resume auto" in res.stdout
    res = faulty(["--resume", "auto", f"run.output_dir={tmp_path / 'runs'}"], tmp_path, None)
    assert res.returncode == 0, res.stderr[-3000:]
    assert_same_training(reference, run)


def test_sigterm_after_the_last_step_stops_before_evaluation_and_resume_evaluates(tmp_path, data_cache, reference):
    res = faulty(smoke_args(tmp_path, data_cache, *SHORT), tmp_path, f"term:validation:{STEPS}")  # in the final validation
    assert res.returncode == 143, res.stderr[-3000:]
    run = the_run(tmp_path / "runs")
    assert load_verified(run / "checkpoints" / "last.ckpt")["global_step"] == STEPS
    assert not (run / "metrics.json").is_file() or "test" not in json.loads((run / "metrics.json").read_text())
    res = faulty(["--resume", "auto", f"run.output_dir={tmp_path / 'runs'}"], tmp_path, None)
    assert res.returncode == 0, res.stderr[-3000:]
    assert_same_training(reference, run)


def test_sigusr1_on_slurm_checkpoints_and_requeues_the_job(tmp_path, data_cache):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "scontrol.calls"
    (bin_dir / "scontrol").write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\n")  # SLURM's CLI, recording what it is asked
    (bin_dir / "scontrol").chmod(0o755)
    env = {**cli_env(), "ASTROTRAIN_FAULT": "usr1:train-step:4", "SLURM_JOB_ID": "4242", "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    res = subprocess.run([sys.executable, str(ROOT / "train.py"), *smoke_args(tmp_path, data_cache, *SHORT)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 128 + signal.SIGUSR1, res.stderr[-3000:]
    assert calls.read_text().split() == ["requeue", "4242"]
    assert load_verified(the_run(tmp_path / "runs") / "checkpoints" / "last.ckpt")["global_step"] == 5


@pytest.mark.slow
@pytest.mark.parametrize("where", ["train-step:5", "validation:1"])
def test_sigterm_to_one_of_two_ddp_ranks_stops_both_with_one_checkpoint(tmp_path, data_cache, where):
    args = smoke_args(tmp_path, data_cache, *SHORT, "--distributed", "--gpus", "2", "trainer.accelerator=cpu")
    res = faulty(args, tmp_path, f"term:{where}", timeout=240)  # a rank left waiting in a collective would hit the timeout
    assert res.returncode == 143, res.stderr[-3000:]
    state = load_verified(the_run(tmp_path / "runs") / "checkpoints" / "last.ckpt")
    if where.startswith("train"):
        assert state["global_step"] == 6  # the step under way finished on both ranks, then one checkpoint
    else:  # signalled in the first validation: the first step of the next epoch finished, then the checkpoint
        assert state["epoch"] == 1 and 1 < state["global_step"] < STEPS


def test_a_nan_gradient_rolls_back_lowers_the_learning_rate_and_training_goes_on(tmp_path, data_cache):
    res = faulty(smoke_args(tmp_path, data_cache, *SHORT, "trainer.checkpoint_every_n_steps=5", "trainer.keep_checkpoints=10"), tmp_path, "nan:12")
    assert res.returncode == 0, res.stderr[-3000:]
    run = the_run(tmp_path / "runs")
    report = json.loads((run / "divergence.json").read_text())
    (event,) = report["events"]
    assert event["step"] == 12 and event["rolled_back_to_step"] == 10 and event["action"].startswith("rolled back")
    state = load_verified(run / "checkpoints" / "last.ckpt")
    import torch

    assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())
    clean = load_verified(run / "checkpoints" / "step=0000010.ckpt")
    ratio = state["lr_schedulers"][0]["base_lrs"][0] / clean["lr_schedulers"][0]["base_lrs"][0]
    assert ratio == pytest.approx(0.5)  # trainer.divergence_lr_factor
    assert "divergence guard: non-finite gradient at step 12" in res.stdout


def test_a_run_that_keeps_diverging_stops_after_k_rollbacks_with_a_clear_report(tmp_path, data_cache):
    res = faulty(smoke_args(tmp_path, data_cache, *SHORT, "trainer.divergence_retries=2"), tmp_path, "nan:4:always")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "training diverged" in res.stderr and "after 2 rollbacks" in res.stderr and "divergence.json" in res.stderr
    report = json.loads((the_run(tmp_path / "runs") / "divergence.json").read_text())
    assert [e["action"].split(",")[0] for e in report["events"]] == ["rolled back", "rolled back", "stopped"]
    assert [e["lr"][0] for e in report["events"][:2]][1] == pytest.approx(report["events"][0]["lr"][0] * 0.5)


# --- disk full, read-only run directory (a real tmpfs: needs root, as in CI's container) ---------------
@pytest.fixture
def small_disk(tmp_path):
    """A 64 MB tmpfs at tmp_path/disk (unmounted afterwards); `remount(options)` changes it."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {mounted.stderr.strip()}")

    def remount(options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(disk)], check=True)

    try:
        yield disk, remount
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_is_a_clear_error_and_the_previous_checkpoint_stays_valid(tmp_path, data_cache, small_disk):
    disk, _ = small_disk
    runs = disk / "runs"
    assert run_cli(smoke_args(tmp_path, data_cache, *SHORT, f"run.output_dir={runs}", "trainer.stop_after_steps=3"), cwd=tmp_path).returncode == 0
    run = the_run(runs)
    last = run / "checkpoints" / "last.ckpt"
    stats = os.statvfs(disk)
    room = 64 * 1024  # a little room: the run's small files fit, a checkpoint (~2 MB) does not
    with open(disk / "filler", "wb") as handle:
        handle.write(b"\0" * (stats.f_bavail * stats.f_frsize - room))
    res = run_cli(["--resume", "auto", f"run.output_dir={runs}"], cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert "no space left on the device" in res.stderr and ".ckpt" in res.stderr and "--resume auto" in res.stderr
    assert read_manifest(last)["global_step"] == 3 and load_verified(last)["global_step"] == 3  # intact
    assert not list((run / "checkpoints").glob(".*.tmp"))  # the half-written temporary file was removed
    (disk / "filler").unlink()
    res = run_cli(["--resume", "auto", f"run.output_dir={runs}", "trainer.stop_after_steps=null"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert load_verified(last)["global_step"] == STEPS


def test_a_read_only_run_directory_is_a_clear_error_and_nothing_changes(tmp_path, data_cache, small_disk):
    disk, remount = small_disk
    runs = disk / "runs"
    assert run_cli(smoke_args(tmp_path, data_cache, *SHORT, f"run.output_dir={runs}", "trainer.stop_after_steps=3"), cwd=tmp_path).returncode == 0
    run = the_run(runs)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    remount("ro")
    res = run_cli(["--resume", "auto", f"run.output_dir={runs}"], cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert "read-only" in res.stderr and str(run) in res.stderr
    fresh = run_cli(smoke_args(tmp_path, data_cache, *SHORT, f"run.output_dir={runs}"), cwd=tmp_path)
    assert fresh.returncode == 2 and "Traceback" not in fresh.stderr and str(runs) in fresh.stderr
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before and len(list(runs.iterdir())) == 1


def test_the_guard_clips_gradients_exactly_as_the_trainer_would(tmp_path, data_cache):
    """With the divergence guard on, it clips the gradient norm itself (one norm for the clip and the
    finiteness check); the weights must be those of Lightning's own clipping (guard off), bit for bit.
    A clip this low acts on every step, so a guard that skipped clipping would differ."""
    from tests.engine.test_training import train_in_process

    clip = ["trainer.gradient_clip_val=0.05", "trainer.max_epochs=2", "components.surrogate.mlp_baseline_epochs=0"]
    guarded = train_in_process(tmp_path / "guarded", data_cache, *clip)
    unguarded = train_in_process(tmp_path / "unguarded", data_cache, *clip, "trainer.divergence_retries=null")
    unclipped = train_in_process(tmp_path / "unclipped", data_cache, *clip[1:], "trainer.gradient_clip_val=0")
    weights = [load_verified(r.run_dir / "checkpoints" / "last.ckpt")["state_dict"] for r in (guarded, unguarded, unclipped)]
    assert_same_tree(weights[0], weights[1])
    import torch

    assert any(not torch.equal(weights[0][k], weights[2][k]) for k in weights[0])
