"""Engine callbacks: time-sliced stops, preemption, the divergence guard, log flushing (RNG capture lives in rng.py)."""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from ..errors import UserError
from ..fsutil import atomic_write_json, disk_errors


class StopAfterSteps(Callback):
    """End this process after `n` optimiser steps of its own, leaving a checkpoint to resume from.

    For time-sliced jobs (e.g. a SLURM time limit): every invocation, first or resumed, runs
    at most `n` steps; the schedule, max_steps and everything else stay as configured, so
    the resumed run continues exactly as if never stopped.
    The checkpoint is written here, at the end of step `n` (mid-epoch state included), and
    not after `fit` returns: by then Lightning has closed the epoch, and a checkpoint of that
    state would resume at the next epoch instead of the next batch.
    """

    def __init__(self, n: int, last_checkpoint: str):
        self.n = n
        self.last_checkpoint = last_checkpoint
        self.first_step = 0
        self.stopped = False

    def on_train_start(self, trainer, pl_module) -> None:
        self.first_step = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step - self.first_step >= self.n and not trainer.should_stop:
            trainer.save_checkpoint(self.last_checkpoint, weights_only=False)
            trainer.should_stop = True
            self.stopped = True


class Preemption(Callback):
    """SIGTERM (a scheduler's preemption) or SIGUSR1 (SLURM's `--signal=USR1@90`) → a checkpoint at the
    end of the current step, then stop; the CLI exits with 128 + the signal number (143 for SIGTERM).

    The handler only records the signal; the decision is taken at the end of every training step,
    reduced across ranks (any rank signalled → every rank stops at the same step), so in DDP no
    rank waits in a collective the others have left — also when the signal lands during
    validation: validation finishes, and the next step ends the run. On SLURM (SLURM_JOB_ID set) a
    SIGUSR1 also requeues the job (`scontrol requeue`), which then resumes with `--resume auto`.
    """

    def __init__(self, last_checkpoint: str):
        self.last_checkpoint = last_checkpoint
        self.received: int | None = None
        self.stopped_by: int | None = None
        self._previous: dict = {}

    def on_train_start(self, trainer, pl_module) -> None:  # after Lightning registered its own handlers: ours replace them
        import signal

        for signum in (signal.SIGTERM, signal.SIGUSR1):
            self._previous[signum] = signal.signal(signum, self._record)

    def _record(self, signum, frame) -> None:
        self.received = signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        local = self.received is not None
        stop = trainer.strategy.reduce_boolean_decision(local, all=False) if trainer.world_size > 1 else local
        if stop and not trainer.should_stop:
            import signal

            self.stopped_by = int(self.received or signal.SIGTERM)
            trainer.save_checkpoint(self.last_checkpoint, weights_only=False)
            trainer.should_stop = True
            if trainer.is_global_zero and self.stopped_by == signal.SIGUSR1:
                requeue_slurm_job()

    def on_train_end(self, trainer, pl_module) -> None:
        import signal

        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}


def requeue_slurm_job() -> None:
    """`scontrol requeue <job>` when running under SLURM (and scontrol is there); otherwise nothing."""
    import os
    import shutil
    import subprocess

    job = os.environ.get("SLURM_ARRAY_JOB_ID") and f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    job = job or os.environ.get("SLURM_JOB_ID")
    if job and shutil.which("scontrol"):
        subprocess.run(["scontrol", "requeue", job], check=False)
        print(f"requeued SLURM job {job}")


class DivergenceGuard(Callback):
    """A non-finite gradient (or loss) → that step is not applied, the weights, optimiser and scheduler
    go back to the last checkpoint's state, the learning rate is multiplied by `factor`, and training
    goes on with the next batch; after `retries` rollbacks the run stops with a report.

    The check runs just before the optimiser step (gradients already reduced across ranks in DDP, so
    every rank decides alike): clearing the gradients makes the optimiser skip the step entirely.
    It costs nothing extra where gradients are clipped: the guard does the clipping itself
    (`clip_grad_norm_`, instead of the Trainer's `gradient_clip_val`) and reads finiteness off the
    total norm that computes anyway — one host sync per step. (Checking each gradient tensor was
    1.2 ms per step on the surrogate, 8 % of its step on 2 CPU cores: BENCHMARKS.md, table 1.)
    Each event is appended to `<run>/divergence.json`.
    """

    def __init__(self, factor: float, retries: int, report: str, clip: float | None = None):
        self.factor = factor
        self.retries = retries
        self.report = report
        self.clip = clip  # global gradient-norm clip applied here (trainer.gradient_clip_val), None = none
        self.events: list[dict] = []
        self.scale = 1.0  # learning-rate multiplier the rollbacks have applied so far
        self.good: dict | None = None
        self.good_step, self.good_scale = 0, 1.0
        self.bad, self.bad_step = False, 0  # bad_step: the optimiser step (0-based) whose gradient was not finite

    def state_dict(self) -> dict:  # rides in the checkpoint: a resumed run keeps its retry count
        return {"events": self.events, "scale": self.scale}

    def load_state_dict(self, state: dict) -> None:
        self.events, self.scale = list(state["events"]), float(state["scale"])

    def on_train_start(self, trainer, pl_module) -> None:
        self._remember(trainer, pl_module)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        if not self.bad:
            self._remember(trainer, pl_module)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]  # the Trainer's order
        if not params:
            return
        # L2 total norm: non-finite if any gradient is (or if finite ones overflow float32 — diverged all the same)
        total = torch.nn.utils.clip_grad_norm_(params, self.clip) if self.clip else torch.nn.utils.get_total_norm([p.grad for p in params])
        if not bool(torch.isfinite(total)):
            self.bad, self.bad_step = True, int(trainer.global_step)
            for p in pl_module.parameters():
                p.grad = None  # the optimiser skips parameters without a gradient: this step changes nothing

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None and not bool(torch.isfinite(loss.detach()).all()) and not self.bad:
            self.bad, self.bad_step = True, int(trainer.global_step) - 1
        if trainer.world_size > 1:  # a rank's local loss alone must not make it roll back while the others go on
            self.bad = trainer.strategy.reduce_boolean_decision(self.bad, all=False)
        if not self.bad:
            return
        self.bad = False
        event = {"step": self.bad_step, "rolled_back_to_step": self.good_step}
        if len(self.events) >= self.retries:
            event["action"] = "stopped"
            self.events.append(event)
            self._write(trainer)

            raise UserError(f"training diverged: a non-finite gradient or loss at step {event['step']} after {self.retries} rollbacks "
                            f"(each to the last checkpoint, with the learning rate × {self.factor}); see {self.report}. Lower the "
                            "component's lr, raise its warmup_steps or trainer.gradient_clip_val, or allow more trainer.divergence_retries")
        self._restore(trainer, pl_module)
        event["action"] = f"rolled back, learning rate × {self.factor}"
        event["lr"] = [g["lr"] for g in trainer.optimizers[0].param_groups]
        self.events.append(event)
        self._write(trainer)
        print(f"divergence guard: non-finite gradient at step {event['step']}: rolled back to step {self.good_step}, "
              f"learning rate × {self.factor} (retry {len(self.events)} of {self.retries})")

    def _remember(self, trainer, pl_module) -> None:
        """The state to roll back to, copied to host memory (never a second copy on the accelerator)."""
        import copy

        def to_cpu(tree):
            if isinstance(tree, torch.Tensor):
                return tree.detach().to("cpu", copy=True)
            if isinstance(tree, dict):
                return {k: to_cpu(v) for k, v in tree.items()}
            if isinstance(tree, (list, tuple)):
                return type(tree)(to_cpu(v) for v in tree)
            return copy.deepcopy(tree)

        self.good = to_cpu({"model": pl_module.state_dict(), "optimizers": [o.state_dict() for o in trainer.optimizers],
                            "schedulers": [c.scheduler.state_dict() for c in trainer.lr_scheduler_configs]})
        self.good_step, self.good_scale = int(trainer.global_step), self.scale

    def _restore(self, trainer, pl_module) -> None:
        import copy

        good = copy.deepcopy(self.good)
        pl_module.load_state_dict(good["model"])
        for optimizer, state in zip(trainer.optimizers, good["optimizers"]):
            optimizer.load_state_dict(state)
        for config, state in zip(trainer.lr_scheduler_configs, good["schedulers"]):
            config.scheduler.load_state_dict(state)
        self.scale *= self.factor
        scale = self.scale / self.good_scale  # the snapshot's learning rates already carry good_scale
        for config in trainer.lr_scheduler_configs:
            config.scheduler.base_lrs = [lr * scale for lr in config.scheduler.base_lrs]
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] *= scale
                if "initial_lr" in group:
                    group["initial_lr"] *= scale

    def _write(self, trainer) -> None:
        if trainer.is_global_zero:
            atomic_write_json(self.report, {"factor": self.factor, "retries": self.retries, "events": self.events})


class FlushLogsOnCheckpoint(Callback):
    """A checkpoint taken at the end of a training step is written before Lightning logs that step's
    metrics; a kill right after it would lose that row for good (the resumed run starts at the next
    step). So the row goes into the checkpoint's manifest (`pending_log_row`), and the CSV logger of
    the resumed run writes it if it is missing. The loggers' buffers are written out too."""

    PENDING = "astrotrain_pending_log_row"  # popped by the checkpoint IO into the manifest

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        from lightning.fabric.utilities.apply_func import convert_tensors_to_scalars

        connector = trainer._logger_connector
        if trainer.training and trainer.state.fn == "fit" and connector._first_loop_iter is not None and connector.should_update_logs:
            row = convert_tensors_to_scalars(connector.metrics["log"])
            if row:
                row.setdefault("epoch", trainer.current_epoch)
                checkpoint[self.PENDING] = {"step": int(trainer.fit_loop.epoch_loop._batches_that_stepped), "metrics": row}

        for logger in trainer.loggers:
            with disk_errors(Path(logger.log_dir or logger.save_dir or ".")):
                logger.save()


class RunMonitor(Callback):
    """Every `every` steps: samples/s and step time (of that step), peak memory (process RSS; GPU where
    present) and the global gradient norm (before clipping), logged as perf/*. Nothing is measured between those
    steps, so the cost is one timer and one norm per `every` steps (the learning rate is logged by
    Lightning's LearningRateMonitor)."""

    def __init__(self, every: int):
        self.every = every
        self.started: float | None = None
        self.grad_norm = None

    def _due(self, trainer) -> bool:
        return trainer.global_step % self.every == 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        import time

        self.started = time.perf_counter() if self._due(trainer) else None

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self.started is not None:
            norms = [p.grad.detach().norm() for p in pl_module.parameters() if p.grad is not None]
            self.grad_norm = torch.linalg.vector_norm(torch.stack(norms)) if norms else None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.started is None:
            return
        import resource
        import time

        seconds = time.perf_counter() - self.started
        values = {"perf/step_time_ms": seconds * 1e3, "perf/samples_per_s": _batch_size(batch) * trainer.world_size / seconds,
                  "perf/peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        if torch.cuda.is_available() and pl_module.device.type == "cuda":
            values["perf/gpu_peak_memory_mb"] = torch.cuda.max_memory_allocated(pl_module.device) / 2**20
        if self.grad_norm is not None:
            values["perf/grad_norm"] = float(self.grad_norm)
        if trainer.is_global_zero:  # straight to the loggers: through `self.log` the row would only be written on
            step = trainer.fit_loop.epoch_loop._batches_that_stepped  # steps that are also Lightning's log steps (never, at
            for logger in trainer.loggers:  # the default 25 / 50); the step Lightning logs this batch's loss under
                logger.log_metrics(values, step=step)


def _batch_size(batch) -> int:
    """Planets (molecules, ...) in a batch: the leading size of its first tensor."""
    items = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (list, tuple)) else [batch]
    for item in items:
        if isinstance(item, torch.Tensor):
            return int(item.shape[0])
        size = _batch_size(item) if isinstance(item, (dict, list, tuple)) else 0
        if size:
            return size
    return 0


class EpochEndLoaderState(Callback):
    """A checkpoint taken at an epoch's last batch (a step checkpoint, a preemption, a kill in the
    validation that follows) is rewritten as the checkpoint of a finished epoch: the epoch counted
    as done, the batch counters at the start of the next one, `_batches_that_stepped` including the
    last step. Lightning then resumes at the next epoch's start with a fresh loader iterator —
    exactly where the uninterrupted run goes on. Left as Lightning saves it, the loop restarts
    "mid-epoch at its last batch": the loader replays an empty rest of the epoch as the next epoch,
    and the next epoch is never counted as started, so a later resume repeats batches.

    (Found by the kill-anywhere test, which also showed that the shuffling sampler does not advance
    its epoch under Lightning — the epoch's iterator is discarded, not exhausted — so every epoch
    replays the order of epoch 0; a fresh iterator reproduces exactly that. The validation of the
    finished epoch is not re-run on such a resume: it changes no weight and no RNG stream.)"""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        fit = checkpoint.get("loops", {}).get("fit_loop", {})
        batches = fit.get("epoch_loop.batch_progress", {})
        if not batches.get("is_last_batch") or not trainer.training:
            return
        epochs = fit["epoch_progress"]
        for part in ("total", "current"):
            started = epochs[part]["started"]
            epochs[part] = {"ready": started, "started": started, "processed": started, "completed": started}
        batches["total"]["completed"] = batches["total"]["processed"]
        batches["current"] = {"ready": 0, "started": 0, "processed": 0, "completed": 0}
        batches["is_last_batch"] = False
        fit["epoch_loop.state_dict"]["_batches_that_stepped"] = int(fit["epoch_loop.state_dict"]["_batches_that_stepped"]) + 1


class OptimizerKernel(Callback):
    """`trainer.optimizer_kernel=fused`: every Adam/AdamW param group steps with the fused kernel (one
    kernel per group instead of torch's multi-tensor `foreach` loops; the same update up to float
    rounding, BENCHMARKS.md table 7). The components build their optimisers themselves, so the
    engine switches the groups' flags, which `Adam.step` reads at every step; set when training starts
    (after a resume restored the groups) and before any callback snapshots the optimiser."""

    def __init__(self, kernel: str):
        self.fused = kernel == "fused"

    def on_train_start(self, trainer, pl_module) -> None:
        for optimizer in trainer.optimizers:
            if isinstance(optimizer, (torch.optim.Adam, torch.optim.AdamW)):
                for group in optimizer.param_groups:
                    group["fused"], group["foreach"] = self.fused, not self.fused
