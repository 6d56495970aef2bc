"""Fault injection for the reliability tests: `ASTROTRAIN_FAULT` in a process's environment.

    kill:train-step:N      SIGKILL itself as optimiser step N begins (mid-epoch)
    kill:validation:N      SIGKILL itself in the first validation batch at or after step N
    kill:mid-write:K       SIGKILL itself halfway through writing its K-th checkpoint file (.ckpt)
    kill:before-rename:K   … after the K-th checkpoint's bytes and manifest are written, before the rename
    kill:after-rename:K    … after that rename, before the manifest is finalised
    term:train-step:N      send itself SIGTERM as step N begins (rank 0 only: a preemption one rank sees)
    term:validation:N      … in the first validation batch at or after step N
    usr1:train-step:N      … SIGUSR1 (SLURM's warning signal) instead
    kill:federated-round:K SIGKILL itself in federated round K, after the observatories trained, before aggregation
    nan:N                  the gradients of step N become NaN (once per process)
    nan:N:always           … and of every step after it

Unset (always, outside tests), every hook is a no-op costing one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

ENV = "ASTROTRAIN_FAULT"
_write_counts: dict[str, int] = {}


def spec() -> tuple[str, str, int, bool] | None:
    """(kind, point, number, repeat) of the injected fault, or None."""
    raw = os.environ.get(ENV)
    if not raw:
        return None
    parts = raw.split(":")
    if parts[0] == "nan":
        return "nan", "step", int(parts[1]), len(parts) > 2 and parts[2] == "always"
    return parts[0], parts[1], int(parts[2]), False


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def fault_at(point: str, number: int) -> None:
    """A numbered place outside the Lightning loop (e.g. a federated round) where `kill:<point>:<number>` strikes."""
    fault = spec()
    if fault is not None and fault[0] == "kill" and fault[1] == point and fault[2] == number:
        kill_self()


def fault_point(point: str, path: Path) -> None:
    """A place in a checkpoint write where `kill:<point>:K` strikes (counting .ckpt files only)."""
    fault = spec()
    if fault is None or fault[0] != "kill" or fault[1] != point or Path(path).suffix != ".ckpt":
        return
    _write_counts[point] = _write_counts.get(point, 0) + 1
    if _write_counts[point] == fault[2]:
        kill_self()


def fault_callback():
    """The Lightning callback injecting step-level faults, or None when none is asked for."""
    fault = spec()
    if fault is None or fault[1] not in ("train-step", "validation", "step"):
        return None
    from lightning.pytorch.callbacks import Callback

    kind, point, number, repeat = fault
    signals = {"kill": signal.SIGKILL, "term": signal.SIGTERM, "usr1": signal.SIGUSR1}

    class InjectFault(Callback):
        fired = False

        def _strike(self, trainer) -> None:
            if kind in signals and not self.fired and trainer.global_rank == 0:
                self.fired = True
                os.kill(os.getpid(), signals[kind])

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if point == "train-step" and trainer.global_step == number:
                self._strike(trainer)

        def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
            if point == "validation" and trainer.global_step >= number and trainer.state.fn == "fit":
                self._strike(trainer)

        def on_after_backward(self, trainer, pl_module) -> None:
            if kind == "nan" and trainer.global_step >= number and (repeat or not self.fired):
                if trainer.global_step == number or repeat:
                    self.fired = True
                    for p in pl_module.parameters():
                        if p.grad is not None:
                            p.grad.fill_(float("nan"))
                            break

    return InjectFault()
