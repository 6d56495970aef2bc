"""2. Data loading: what the loaders deliver vs what the model consumes, at default settings.

Disk: a universe field read from its zarr store (chunks of 64 planets, zstd) into memory, as a
datamodule's `setup` reads it once per run (warm page cache: the second and later reads).
Loaders: one pass over the training split of the engine's `StatefulDataLoader` (whole-batch
gathers from in-memory tensors, resumable position) with the default `data.num_workers` = 0 and
with 2 workers, beside a plain `torch.utils.data.DataLoader` over the same tensors. Model: samples/s
of the plain training loop (table 1's reference) at the default batch size. The loader must
never be the bottleneck: its rate ÷ the model's must stay well above 1.
"""

from __future__ import annotations

import statistics
import time

import torch

from .harness import Context, Section, Spread, intro, repeat, table
from .overhead import plain_run, plain_setup

COMPONENTS = ("surrogate", "datacube")


def zarr_reads(universe, ctx: Context) -> list[list]:
    rows = []
    for name in ("surface_temperature", "temperature"):
        t = repeat(lambda: universe.field(name), ctx.repeats)
        array = universe.field(name)
        rows.append([f"`{name}` {tuple(array.shape)}", t.show("{:.2f}", " s"), f"{len(array) / t.median:,.0f}",
                     f"{array.nbytes / t.median / 2**20:,.0f} MiB/s"])
    return rows


def loader_pass(loader) -> tuple[float, int]:
    started, samples = time.perf_counter(), 0
    for batch in loader:
        samples += len(next(iter(batch.values())))
    return time.perf_counter() - started, samples


def run(ctx: Context) -> Section:
    from astrotrain.data.tensors import planet_loader

    rows, results, universe = [], {}, None
    for component in COMPONENTS:
        cfg, spec, datamodule = plain_setup(component, 40)
        universe = universe or datamodule.universe
        dataset, batch = datamodule.datasets["train"], datamodule.batch_size
        steps = 20 if ctx.quick else 60
        model_rate = batch / statistics.median(plain_run(cfg, spec, datamodule, steps))
        plain = torch.utils.data.DataLoader(dataset, batch_size=None, sampler=torch.utils.data.BatchSampler(
            torch.utils.data.RandomSampler(dataset, generator=torch.Generator().manual_seed(0)), batch, drop_last=True))
        loaders = {"engine loader, 0 workers (default)": lambda: planet_loader(dataset, batch, True, 0, 0),
                   "engine loader, 2 workers": lambda: planet_loader(dataset, batch, True, 0, 2),
                   "plain `DataLoader`, 0 workers": lambda: plain}
        for label, make in loaders.items():
            rates = []
            loader = make()
            for _ in range(ctx.repeats + 1):  # the first pass starts the workers
                seconds, samples = loader_pass(loader)
                rates.append(samples / seconds)
            rate = Spread.of(rates[1:])
            rows.append([component, batch, label, rate.show("{:,.0f}"), f"{model_rate:,.0f}", f"**{rate.median / model_rate:,.0f}×**"])
            results[f"{component}/{label}"] = {"samples_per_s": rate.__dict__, "model_samples_per_s": model_rate}
    return Section(
        "2. Data loading",
        intro(__doc__),
        tables=[table(["universe field (zarr → memory)", "read time", "planets/s", "throughput"], zarr_reads(universe, ctx)),
                table(["component", "batch", "loader", "loader samples/s", "model samples/s (training)", "loader ÷ model"], rows)],
        notes=["The universe's data are read once into memory (~1.3 GB for 6,000 planets): after `setup`, a batch is one "
               "`index_select` per tensor, so workers only add inter-process copies (their rate is lower, not higher)."],
        results=results,
    )
