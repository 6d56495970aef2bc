"""Splits by planet: every planet lands in exactly one of train / val / test (no leakage)."""

from __future__ import annotations

import numpy as np

from ..hashing import sha256_json


def planet_splits(n: int, train: float, val: float, seed: int) -> dict[str, np.ndarray]:
    """Disjoint, sorted index arrays covering 0..n-1; the test share is what train and val leave.

    Deterministic in (n, fractions, seed); each split gets at least one planet.
    """
    if n < 3:
        raise ValueError(f"need at least 3 planets to split, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    n_train = max(1, int(round(train * n)))
    n_val = max(1, int(round(val * n)))
    n_train = min(n_train, n - n_val - 1)
    return {
        "train": np.sort(order[:n_train]),
        "val": np.sort(order[n_train : n_train + n_val]),
        "test": np.sort(order[n_train + n_val :]),
    }


def treatment_record(indices: dict[str, np.ndarray], normalisation: dict) -> dict:
    """What data treatment produced, for the run directory: split sizes and hashes, and the
    normalisation statistics (fitted on the train split only)."""
    return {
        "splits": {name: {"planets": int(len(idx)), "sha256": sha256_json(idx.tolist())} for name, idx in indices.items()},
        "normalisation": {"fitted_on": f"train split ({len(indices['train'])} planets)", **normalisation},
    }
