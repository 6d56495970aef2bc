"""6. Scaling: how cost grows with the work — batch size, universe size, processes.

Each point is a fresh process (so that its peak memory is its own): the plain training loop of
table 1 at that batch size on the default universe, or on a universe of N planets (table 4's),
reporting the one-off `setup` (zarr reads, PCA or normalisation fits), the median step, samples/s
and the process's peak resident memory. The datacube trains on all N planets there
(`max_planets=0`). DDP: the full engine (`python train.py --distributed --gpus 2
trainer.accelerator=cpu`, gloo) with 2 processes vs 1 at the same per-process batch (weak scaling:
twice the samples per step), step time from the run monitor's `perf/step_time_ms` (rank 0); the
test RMSE of these short runs (150 steps) only shows that both trained the same way.
"""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .harness import BASE_OVERRIDES, ROOT, Context, Section, intro, table

BATCHES = {"surrogate": ((16, 64, 256, 1024), (16, 64)), "datacube": ((2, 8, 32), (2, 8))}
UNIVERSE_BATCH = {"surrogate": 64, "datacube": 8}
STEPS = (30, 8)
DDP_STEPS = (150, 30)
OVERRIDES_ENV = "ASTROTRAIN_BENCH_OVERRIDES"


def worker(component: str, batch: int, steps: int, universe_dir: str | None) -> dict:
    """One point, measured in this (fresh) process."""
    from .harness import peak_rss_mb
    from .overhead import plain_run, plain_setup

    extra = [f"components.{component}.batch_size={batch}"]
    if universe_dir:
        manifest = json.loads((Path(universe_dir) / "manifest.json").read_text())
        extra += [f"data.universe.n_planets={manifest['n_planets']}", f"data.universe.cache_dir={Path(universe_dir).parent}"]
        extra += ["components.datacube.max_planets=0"] if component == "datacube" else []
    started = time.perf_counter()
    cfg, spec, datamodule = plain_setup(component, steps, *extra)
    setup_s = time.perf_counter() - started
    step_s = statistics.median(plain_run(cfg, spec, datamodule, steps))
    return {"setup_s": setup_s, "step_s": step_s, "samples_per_s": batch / step_s, "peak_rss_mb": peak_rss_mb(),
            "train_planets": len(datamodule.datasets["train"])}


def point(component: str, batch: int, steps: int, universe_dir: Path | None = None) -> dict:
    args = [sys.executable, "-m", "benchmarks.scaling", component, str(batch), str(steps), str(universe_dir or "")]
    res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=_env())
    if res.returncode != 0:
        raise RuntimeError(f"scaling point {args[3:]} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def ddp(ctx: Context, processes: int) -> dict:
    steps = DDP_STEPS[ctx.quick]
    out = ctx.workdir / f"ddp-{processes}"
    args = [sys.executable, "train.py", "trainer.accelerator=cpu", f"trainer.max_steps={steps}", "logging.monitor_every_n_steps=5",
            *BASE_OVERRIDES, f"run.output_dir={out}", "run.name=ddp", "components.surrogate.mlp_baseline_epochs=0", "trainer.enable_progress_bar=false"]
    args += ["--distributed", "--gpus", str(processes)] if processes > 1 else []
    started = time.perf_counter()
    res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=_env())
    wall = time.perf_counter() - started
    if res.returncode != 0:
        raise RuntimeError(f"DDP run with {processes} processes failed:\n{res.stderr[-3000:]}")
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    with open(run / "logs" / "csv" / "metrics.csv") as f:
        times = [float(r["perf/step_time_ms"]) for r in csv.DictReader(f) if r.get("perf/step_time_ms")]
    step_ms = statistics.median(times[1:] or times)
    batch = UNIVERSE_BATCH["surrogate"]
    return {"step_ms": step_ms, "samples_per_s": batch * processes / step_ms * 1e3, "wall_s": wall,
            "test": json.loads((run / "metrics.json").read_text())["test"]["surface_temperature_rmse_K"]}


def _env() -> dict:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env[OVERRIDES_ENV] = json.dumps(BASE_OVERRIDES)  # the worker process applies the same base overrides
    return env


def run(ctx: Context) -> Section:
    from astrotrain.universe.generate import ensure_universe

    from .generation import UNIVERSE_SIZES, universe_config

    steps = STEPS[ctx.quick]
    batch_rows, universe_rows, results = [], [], {"batch": {}, "universe": {}, "ddp": {}}
    for component, sizes in BATCHES.items():
        base = None
        for batch in sizes[ctx.quick]:
            r = point(component, batch, steps)
            base = base or r
            batch_rows.append([component, batch, f"{r['step_s'] * 1e3:.1f} ms", f"{r['samples_per_s']:,.0f}",
                               f"{r['samples_per_s'] / base['samples_per_s']:.2f}×", f"{r['peak_rss_mb']:,.0f} MB"])
            results["batch"][f"{component}/{batch}"] = r
    for component, batch in UNIVERSE_BATCH.items():
        base = None
        for n in UNIVERSE_SIZES[ctx.quick]:
            universe = ensure_universe(universe_config(ctx, n), progress=False)
            r = point(component, batch, steps, universe.path)
            base = base or r
            universe_rows.append([component, n, r["train_planets"], f"{r['setup_s']:.1f} s", f"{r['step_s'] * 1e3:.1f} ms",
                                  f"{r['step_s'] / base['step_s']:.2f}×", f"{r['peak_rss_mb']:,.0f} MB"])
            results["universe"][f"{component}/{n}"] = r
    import torch

    cores = torch.get_num_threads()
    one = ddp(ctx, 1)
    runs = {f"1 process, {cores} threads": one, f"2 processes (gloo), {max(1, cores // 2)} thread(s) each": ddp(ctx, 2)}
    results["ddp"] = runs
    ddp_rows = [[label, f"{r['step_ms']:.1f} ms", f"{r['samples_per_s']:,.0f}", f"**{r['samples_per_s'] / one['samples_per_s']:.2f}×**",
                 f"{r['wall_s']:.0f} s", f"{r['test']:.2f} K"] for label, r in runs.items()]
    return Section(
        "6. Scaling",
        intro(__doc__),
        tables=[table(["component", "batch", "step (median)", "samples/s", "samples/s vs smallest batch", "peak memory (RSS)"], batch_rows),
                table(["component", "universe N", "training planets", "setup", "step (median)", "step vs smallest N", "peak memory (RSS)"], universe_rows),
                table(["surrogate, batch 64 per process", "step (median)", "samples/s", "vs 1 process", "whole run (wall)", "test surface-T RMSE"], ddp_rows)],
        notes=["2 processes on 2 cores: Lightning gives each rank cores ÷ processes = 1 intra-op thread, so the 2 cores are "
               "split, not added: DDP here shows correctness and the cost of gloo's all-reduce, not the speed-up of a GPU node "
               "(step time: the run monitor's `perf/step_time_ms` of rank 0, every 5 steps)."],
        results=results,
    )


if __name__ == "__main__":
    import os

    BASE_OVERRIDES[:] = json.loads(os.environ.get(OVERRIDES_ENV, "[]"))
    component, batch, steps, universe_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] or None
    print(json.dumps(worker(component, batch, steps, universe_dir)))
