"""Small engine callbacks (RNG capture lives in rng.py)."""

from __future__ import annotations

from lightning.pytorch.callbacks import Callback


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
