"""Latency (batch 1, p50/p95) and throughput (planets/s per batch size, the best one) of the shipped
models on every backend, and of CLERO — the physics reference the surrogate replaces — predicting
the same planets' surface temperature, all measured in one process, one after the other.

Timing: `time.perf_counter` around whole calls after one warm-up call; throughput repeats a batch
until `throughput_seconds` have passed (at least twice). The features transform (log10 of four
inputs) is outside the models' timing; CLERO is timed from its own physical inputs.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ...universe.sampling import PARAMETER_NAMES


def latency_ms(call: Callable[[np.ndarray], object], one: np.ndarray, calls: int) -> dict:
    call(one)
    times = np.empty(calls)
    for i in range(calls):
        started = time.perf_counter()
        call(one)
        times[i] = time.perf_counter() - started
    return {"p50_ms": float(np.percentile(times, 50) * 1e3), "p95_ms": float(np.percentile(times, 95) * 1e3), "calls": calls}


def throughput(call: Callable[[np.ndarray], object], pool: np.ndarray, batch_sizes: list[int], seconds: float) -> dict:
    """{batch size: planets/s} and the best; batches are cut from `pool` (tiled when it is smaller)."""
    rates = {}
    for size in batch_sizes:
        batch = _batch(pool, size)
        call(batch)
        calls, started = 0, time.perf_counter()
        while calls < 2 or time.perf_counter() - started < seconds:
            call(batch)
            calls += 1
        rates[size] = size * calls / (time.perf_counter() - started)
    best = max(rates, key=rates.get)
    return {"planets_per_s": {str(k): round(v, 1) for k, v in rates.items()}, "best_batch": best, "best_planets_per_s": round(rates[best], 1)}


def measure(call: Callable[[np.ndarray], object], pool: np.ndarray, pc, batch_sizes: list[int] | None = None, calls: int | None = None) -> dict:
    return {**latency_ms(call, pool[:1], calls or pc.latency_calls), **throughput(call, pool, batch_sizes or pc.batch_sizes, pc.throughput_seconds)}


def clero_call(emulator) -> Callable[[np.ndarray], object]:
    """CLERO predicting the surface-temperature map of a batch of planets (`[B, 8]` physical inputs, PARAMETER_NAMES order)."""
    def call(inputs: np.ndarray):
        planets = {name: inputs[:, j] for j, name in enumerate(PARAMETER_NAMES)}
        return emulator.predict(planets, fields=["surface_temperature"], batch_size=len(inputs))

    return call


def speedups(models: dict, clero: dict) -> dict:
    """Planets/s of each model ÷ CLERO's: at batch 1 (from the p50 latency) and each at its best batch."""
    def at_batch_1(m):
        return 1e3 / m["p50_ms"]

    return {name: {"batch_1": at_batch_1(m) / at_batch_1(clero), "best_batch": m["best_planets_per_s"] / clero["best_planets_per_s"]}
            for name, m in models.items()}


def _batch(pool: np.ndarray, size: int) -> np.ndarray:
    reps = -(-size // len(pool))
    return np.ascontiguousarray(np.tile(pool, (reps, 1))[:size])
