"""After the test: the emulator's speed against the ODE integration it replaces.

The ODE: `universe.evolution.integrate` (solve_ivp with the universe's solver settings) on
`speed_trajectories` test planets, one after the other (it has no batch dimension), in one
process. End to end: when the emulator is given more than the initial state (start_steps > 1),
that start has to come from the ODE too, and its integration time is added to the emulator's. The emulator: a batched forward pass over the test split tiled to 4,096 trajectories, in
evaluation mode without autograd, timed as the median of `REPEATS` passes after a warm-up. Both on this
machine, in the same process, one after the other; the emulator also with 1 thread, since the
ODE uses one core.
"""

from __future__ import annotations

import time

import torch

from ...universe.evolution import integrate

BATCH = 4096
REPEATS = 7


def report(cfg, module, datamodule, run_dir) -> dict:
    n = cfg.components.evolution.speed_trajectories
    if n == 0:
        return {}
    evolution = datamodule.universe.evolution()
    planets = datamodule.indices["test"][:n]
    solver = {"method": cfg.data.universe.evolution_method, "rtol": cfg.data.universe.evolution_rtol,
              "max_evaluations": cfg.data.universe.evolution_max_evaluations}
    drivers = [{k: evolution[k][i] for k in evolution if evolution[k].ndim == 1 and len(evolution[k]) == len(evolution["ok"])} for i in planets]
    started = time.perf_counter()
    for d in drivers:
        integrate(d, **solver)
    ode_s = (time.perf_counter() - started) / len(drivers)
    start_s = 0.0
    if datamodule.start_steps > 1:
        started = time.perf_counter()
        for d in drivers:
            integrate(d, steps=datamodule.start_steps, **solver)
        start_s = (time.perf_counter() - started) / len(drivers)

    test = datamodule.datasets["test"].tensors
    reps = -(-BATCH // len(test["drivers"]))
    batch = {k: v.repeat((reps,) + (1,) * (v.ndim - 1))[:BATCH].to(module.device) for k, v in test.items()}
    module.eval()
    timings = {}
    threads = torch.get_num_threads()
    for label, n_threads in (("", threads), ("_1thread", 1)):
        torch.set_num_threads(n_threads)
        with torch.inference_mode():
            module.forecast(batch)  # warm-up
            passes = []
            for _ in range(REPEATS):
                started = time.perf_counter()
                module.forecast(batch)
                passes.append(time.perf_counter() - started)
        timings[label] = sorted(passes)[REPEATS // 2] / BATCH + start_s
    torch.set_num_threads(threads)
    return {
        "ode_ms_per_trajectory": round(ode_s * 1e3, 3),
        "emulator_us_per_trajectory": round(timings[""] * 1e6, 3),
        "speedup_vs_ode": round(ode_s / timings[""], 1),
        "emulator_us_per_trajectory_1thread": round(timings["_1thread"] * 1e6, 3),
        "speedup_vs_ode_1thread": round(ode_s / timings["_1thread"], 1),
        "ode_trajectories_timed": float(len(drivers)),
        "start_integration_ms_per_trajectory": round(start_s * 1e3, 3),
    }
