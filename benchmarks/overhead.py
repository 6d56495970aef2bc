"""1. Framework overhead: a training step through the whole astrotrain engine vs a plain PyTorch loop.

Engine: `train_component` exactly as `python train.py` runs it (Lightning Trainer, every callback
of `build_trainer`: checkpointing, RNG capture, LR monitor, divergence guard, loader-state and
log flushing, preemption handling, run monitor; CSV logging; the stateful loader). Plain loop:
written here, the same LightningModule's model and loss, the same data tensors and batch size,
the same AdamW + warm-up/cosine schedule and gradient clipping, a plain `torch.utils.data.DataLoader`.

Step time is the interval between consecutive batch starts (the step, every end-of-step hook and
fetching the next batch), over the steady steps after a warm-up: each run's median step, and its
mean, which includes the periodic work due in the window (logging every 25 steps, monitoring every
50). The loops alternate, run after run, `repeats` times; this shared 2-core VM has bursts of
neighbour noise that slow a whole run by up to 50 %, and noise only ever adds time, so the
overhead is given for the best run of each loop (headline) and for the median runs. Checkpoint
writes are timed separately and amortised over the default cadence (`trainer.checkpoint_every_n_steps`).
"""

from __future__ import annotations

import statistics
import time
from types import SimpleNamespace

import lightning as L
import torch

from . import loop_cost
from .harness import Context, Section, Spread, config, intro, table
from .loop_cost import StepClock, fixed_costs

WARMUP_STEPS = 10
NULL_STEPS = (500, 100)  # steps of each null-model run (full, quick)
CASES = {  # component: (steps timed per run, steps in quick mode)
    "surrogate": (200, 40),
    "datacube": (40, 20),
}


def step_times(starts: list[float]) -> list[float]:
    """Intervals between consecutive batch starts, after the warm-up steps (half the run when it is short)."""
    skip = min(WARMUP_STEPS, (len(starts) - 1) // 2)
    return [b - a for a, b in zip(starts[skip:], starts[skip + 1:])]


def engine_run(component: str, steps: int, workdir, index: int, *overrides: str, extra: tuple = ()) -> tuple[list[float], float]:
    from astrotrain.engine.runner import train_component

    cfg = config(f"run.component={component}", f"trainer.max_steps={steps}", f"run.name=overhead-{component}-{index}",
                 *overrides, output_dir=workdir)
    clock = StepClock(workdir / f"ckpt-{component}-{index}.ckpt")
    train_component(cfg, {}, extra_callbacks=(clock, *extra), with_report=False)
    return step_times(clock.starts), clock.checkpoint_s


class ProfileSteps(L.Callback):
    """cProfile of the training steps after the warm-up (not of setup or evaluation)."""

    def __init__(self):
        import cProfile

        self.profile, self.steps, self.on = cProfile.Profile(), 0, False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == WARMUP_STEPS:
            self.profile.enable()
            self.on = True
        self.steps += self.on

    def on_train_end(self, trainer, pl_module) -> None:
        self.profile.disable()


def plain_setup(component: str, steps: int, *overrides: str):
    """The config, component spec and datamodule (set up) of a plain-loop run."""
    from astrotrain.config.registry import get_component
    from astrotrain.universe.generate import ensure_universe

    cfg = config(f"run.component={component}", f"trainer.max_steps={steps}", *overrides)
    spec = get_component(component)
    universe = ensure_universe(cfg.data.universe, progress=False)
    datamodule = spec.resolve("datamodule")(cfg, universe)
    datamodule.setup("fit")
    return cfg, spec, datamodule


def plain_run(cfg, spec, datamodule, steps: int, loader=None, device=None) -> list[float]:
    """The reference: a hand-written loop over the same model, loss, data, optimiser and schedule
    (batches from `plain_loader`, or the `loader` given), on `device` (CPU when None; a GPU is
    synchronised before every batch start, so that each interval holds its step's kernels)."""
    L.seed_everything(cfg.run.seed, verbose=False)
    module = spec.resolve("module")(cfg, datamodule).to(device or "cpu")
    # configure_optimizers reads the run length from its trainer: hand it the few facts it needs
    module.trainer = SimpleNamespace(world_size=1, max_epochs=cfg.trainer.max_epochs, max_steps=steps, datamodule=datamodule)
    optimisers = module.configure_optimizers()
    optimiser, scheduler = optimisers["optimizer"], optimisers["lr_scheduler"]["scheduler"]
    dataset = datamodule.datasets["train"]
    loader = loader or plain_loader(dataset, datamodule.batch_size, cfg.run.seed)
    loss_of = training_loss(spec.name, module)
    clip = cfg.trainer.gradient_clip_val
    module.train()
    starts, step = [], 0
    while step < steps:
        for batch in loader:
            synchronise(device)
            starts.append(time.perf_counter())
            loss = loss_of(batch if device is None else {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()})
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
            optimiser.step()
            scheduler.step()
            step += 1
            if step == steps:
                break
    synchronise(device)
    starts.append(time.perf_counter())
    return step_times(starts)


def synchronise(device) -> None:
    """Wait for a GPU's queued kernels (nothing on CPU)."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def lightning_bare_run(cfg, spec, datamodule, steps: int, workdir) -> list[float]:
    """The middle rung: Lightning's loop alone (no astrotrain callbacks, logger or checkpoints), the plain loader."""
    L.seed_everything(cfg.run.seed, verbose=False)
    module = spec.resolve("module")(cfg, datamodule)
    clock = StepClock(workdir / "bare.ckpt")
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, check_val_every_n_epoch=10**6, callbacks=[clock],
                        gradient_clip_val=cfg.trainer.gradient_clip_val or None)
    loaders = datamodule.train_dataloader
    datamodule.train_dataloader = lambda: plain_loader(datamodule.datasets["train"], datamodule.batch_size, cfg.run.seed)
    try:
        trainer.fit(module, datamodule=datamodule)
    finally:
        datamodule.train_dataloader = loaders
    return step_times(clock.starts[:-1])


def plain_loader(dataset, batch_size: int, seed: int):
    sampler = torch.utils.data.RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
    return torch.utils.data.DataLoader(dataset, batch_size=None, sampler=torch.utils.data.BatchSampler(sampler, batch_size, drop_last=True))


PROFILE_GROUPS = {"Lightning (loop, hooks, logging)": ("/lightning/", "/lightning_utilities/", "/lightning_fabric/"),
                  "astrotrain (callbacks, checkpoint IO, module)": ("/astrotrain/",), "loader (torchdata)": ("/torchdata/",),
                  "torch (model, autograd, AdamW) and other C calls": ("/torch/", "~")}


def profile_engine(component: str, steps: int, workdir) -> list[list]:
    """Own time per training step by origin, from cProfile of one engine run's steps."""
    import pstats

    profiler = ProfileSteps()
    engine_run(component, steps, workdir, 99, extra=(profiler,))
    own: dict[str, float] = {}
    for (path, _line, _name), (_cc, _nc, tottime, _ct, _callers) in pstats.Stats(profiler.profile).stats.items():
        group = next((g for g, marks in PROFILE_GROUPS.items() if any(m in path for m in marks)), "other Python (stdlib, numpy)")
        own[group] = own.get(group, 0.0) + tottime
    total = sum(own.values())
    return [[group, f"{seconds / profiler.steps * 1e3:.2f} ms", f"{seconds / total * 100:.0f} %"]
            for group, seconds in sorted(own.items(), key=lambda kv: -kv[1])]


def training_loss(component: str, module):
    """The loss each module's `training_step` computes, without its logging."""
    if component == "surrogate":
        return lambda batch: module.losses(module(batch["features"]), batch)["loss"]
    if component == "datacube":
        from astrotrain.components.datacube.module import fold_time

        def datacube_loss(batch):
            batch = fold_time(batch)
            return module.losses(module(batch), batch)["loss"]

        return datacube_loss
    raise ValueError(component)


def run(ctx: Context) -> Section:
    rows, notes, results = [], [], {}
    profile_rows = []
    for component, (steps, quick_steps) in CASES.items():
        steps = quick_steps if ctx.quick else steps
        cfg, spec, datamodule = plain_setup(component, steps)
        rungs = {"plain PyTorch loop (reference)": lambda: plain_run(cfg, spec, datamodule, steps)}
        if component == "surrogate":  # the cheap step, where the framework's share shows: one rung more
            rungs["Lightning alone (no callbacks, logger, checkpoints; plain loader)"] = lambda: lightning_bare_run(cfg, spec, datamodule, steps, ctx.workdir)
        checkpoint = []

        def engine(index=[0]):
            index[0] += 1
            times, seconds = engine_run(component, steps, ctx.workdir, index[0])
            checkpoint.append(seconds)
            return times

        rungs["astrotrain engine (`train.py`)"] = engine
        repeats = max(ctx.repeats, 5) if component == "surrogate" and not ctx.quick else ctx.repeats
        runs = {name: [] for name in rungs}
        for _ in range(repeats):  # the rungs alternate, so slow drifts of the machine hit them alike
            for name, call in rungs.items():
                runs[name].append(call())
        medians = {name: [statistics.median(t) for t in times] for name, times in runs.items()}
        means = {name: [statistics.fmean(t) for t in times] for name, times in runs.items()}
        reference = next(iter(rungs))
        for name in rungs:
            best = min(medians[name]) / min(medians[reference]) - 1  # noise only ever adds time: the best runs compare cleanest
            typical = statistics.median(medians[name]) / statistics.median(medians[reference]) - 1
            with_periodic = statistics.median(means[name]) / statistics.median(means[reference]) - 1
            rows.append([component, datamodule.batch_size, name, f"{min(medians[name]) * 1e3:.2f} ms", _ms(medians[name]), _ms(means[name])]
                        + (["", "", ""] if name == reference else [f"**{best * 100:+.1f} %**", f"{typical * 100:+.1f} %", f"{with_periodic * 100:+.1f} %"]))
            results[f"{component}/{name}"] = {"median_s": medians[name], "mean_s": means[name], "overhead_best": best,
                                              "overhead_median": typical, "overhead_mean": with_periodic}
        every = cfg.trainer.checkpoint_every_n_steps
        ckpt = Spread.of(checkpoint)
        amortised = ckpt.median / every / statistics.median(means[reference])
        notes.append(f"{component}: {repeats} repeats of {steps} steps (the first {min(WARMUP_STEPS, steps // 2)} not timed); a checkpoint "
                     f"write takes {ckpt.median * 1e3:.0f} ms, every {every} steps: +{amortised * 100:.2f} % per step.")
        results[f"{component}/checkpoint"] = {"seconds": checkpoint, "every_n_steps": every, "amortised": amortised}
        if component == "surrogate":
            profile_rows = profile_engine(component, steps, ctx.workdir)
            surrogate_step = min(medians[reference])
    costs = fixed_costs(ctx.workdir, NULL_STEPS[ctx.quick], max(ctx.repeats, 5) if not ctx.quick else 1)
    plain_us = costs["plain PyTorch loop"][0]
    cost_rows = [[name, f"{best:.0f} µs", f"{mean:.0f} µs", "" if name.startswith("plain") else f"+{best - plain_us:.0f} µs",
                  "" if name.startswith("plain") else f"**{(best - plain_us) * 1e-6 / surrogate_step * 100:+.1f} %**"]
                 for name, (best, mean) in costs.items()]
    results["fixed_cost_us"] = {name: {"best_median": best, "median_mean": mean} for name, (best, mean) in costs.items()}
    return Section(
        "1. Framework overhead: astrotrain engine vs a plain PyTorch loop",
        intro(__doc__),
        tables=[table(["component", "batch", "loop", "step, best run", "step, median run", "mean step (with periodic work)",
                       "vs plain, best runs", "vs plain, median runs", "vs plain, mean steps"], rows),
                "Where an engine step's time goes (surrogate; cProfile of one engine run's steps after the warm-up, own time by "
                "origin; cProfile inflates Python-side costs, so the framework's share here is an upper bound):\n\n"
                + table(["origin", "own time per training step", "share"], profile_rows),
                " ".join(loop_cost.__doc__.split()) + "\n\n" + table(["loop (null model, batch 64)", "step, best run (median)", "mean step, median run", "added per step",
                                   "added, as a share of the surrogate's plain step above"], cost_rows)],
        notes=notes,
        results=results,
    )


def _ms(values) -> str:
    return Spread.of([v * 1e3 for v in values]).show("{:.2f}", " ms")


def _pct(values) -> str:
    return Spread.of([v * 100 for v in values]).show("{:+.1f}", " %")
