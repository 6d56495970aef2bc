"""Capturing and restoring every RNG stream, for bitwise-exact resume.

Lightning checkpoints hold weights, optimiser, scheduler and loop progress, and (with a
stateful loader) the data position, but not the global RNGs that dropout and friends draw
from. `RNGStateCallback` saves them with every checkpoint and restores them at the first
resumed training batch — after the resumed loader's iterator exists, so nothing that runs
while the loop sets itself up can advance them.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback


def capture_rng_state() -> dict:
    """Every RNG as tensors and plain numbers (loadable with `torch.load(weights_only=True)`)."""
    py_version, py_state, py_gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
        "numpy": {"kind": np_kind, "keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos), "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class RNGStateCallback(Callback):
    """Saves all RNG states in each checkpoint; restores them at the first batch after a resume."""

    def __init__(self):
        self._pending: dict | None = None

    def state_dict(self) -> dict:
        return self._pending if self._pending is not None else capture_rng_state()  # not yet restored: still the run's state

    def load_state_dict(self, state_dict: dict) -> None:
        self._pending = state_dict

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._pending is not None:
            restore_rng_state(self._pending)
            self._pending = None

    def on_train_end(self, trainer, pl_module) -> None:
        """A resume with no batch left (training had ended; evaluation had not): restore before evaluating."""
        self.on_train_batch_start(trainer, pl_module, None, 0)
