"""One-off steps a run pays for once (a universe generated, a molecule space enumerated, a tokenizer and base
LM trained): timed where they happen, collected by the run that caused them (metrics.json `train.one_off_s`)
and by the pipeline (pipeline.json, per phase), so that a slow first run can be read."""

from __future__ import annotations

import contextlib
import time

_RECORD: dict[str, float] = {}


@contextlib.contextmanager
def one_off(step: str):
    started = time.perf_counter()
    try:
        yield
    finally:
        _RECORD[step] = round(_RECORD.get(step, 0.0) + time.perf_counter() - started, 1)


def collect() -> dict[str, float]:
    """The one-off steps timed since the last collect (seconds), and a fresh record."""
    out = dict(_RECORD)
    _RECORD.clear()
    return out
