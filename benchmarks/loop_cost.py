"""The fixed cost of a training loop per step, measured on a null model (a linear layer on 64 rows):
what a loop adds to every step whatever the model, at a resolution the ratios of table 1 cannot
reach on a shared 2-core VM (their run-to-run noise is a few per cent of a 20 ms step; this is
the same comparison on a step of a few hundred microseconds)."""

from __future__ import annotations

import statistics
import time

import lightning as L
import torch
from torchdata.stateful_dataloader import StatefulDataLoader

from astrotrain.config.schema import RESUME_SAFE_KEYS
from astrotrain.engine.checkpoint import make_checkpoint_io
from astrotrain.engine.trainer import build_trainer
from astrotrain.runs.checkpoints import config_fingerprint

from .harness import config

NULL_ROWS, NULL_BATCH = 64 * 40, 64


class StepClock(L.Callback):
    """Records when every training batch starts, and (given a path) times one checkpoint write at the end."""

    def __init__(self, checkpoint_path):
        self.starts: list[float] = []
        self.checkpoint_s = None
        self.checkpoint_path = checkpoint_path

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.starts.append(time.perf_counter())

    def on_train_end(self, trainer, pl_module) -> None:
        self.starts.append(time.perf_counter())
        if self.checkpoint_path is None:
            return
        started = time.perf_counter()
        trainer.save_checkpoint(self.checkpoint_path, weights_only=False)
        self.checkpoint_s = time.perf_counter() - started


class NullModule(L.LightningModule):
    """One linear layer, a squared error: almost no compute, so a step's time is the loop's own."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(8, 1)

    def training_step(self, batch, batch_idx):
        return (self.layer(batch["x"]) - batch["y"]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=1e-3, foreach=True)


class NullRows(torch.utils.data.Dataset):
    def __init__(self):
        generator = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(NULL_ROWS, 8, generator=generator), torch.randn(NULL_ROWS, 1, generator=generator)

    def __len__(self) -> int:
        return NULL_ROWS

    def __getitem__(self, rows):
        return {"x": self.x[rows], "y": self.y[rows]}


def null_loader():
    """Whole batches gathered by the dataset, as the components' loaders do (data/tensors.py)."""
    sampler = torch.utils.data.RandomSampler(range(NULL_ROWS), generator=torch.Generator().manual_seed(0))
    return StatefulDataLoader(NullRows(), batch_size=None, sampler=torch.utils.data.BatchSampler(sampler, NULL_BATCH, drop_last=True))


def plain_steps(steps: int) -> list[float]:
    torch.manual_seed(0)
    module = NullModule()
    optimiser = module.configure_optimizers()
    starts = []
    while len(starts) < steps:
        for batch in null_loader():
            starts.append(time.perf_counter())
            loss = module.training_step(batch, 0)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            optimiser.step()
            if len(starts) == steps:
                break
    return starts


def lightning_steps(steps: int, trainer_of) -> list[float]:
    torch.manual_seed(0)
    clock = StepClock(None)
    trainer = trainer_of(steps, clock)
    trainer.fit(NullModule(), train_dataloaders=null_loader())
    return clock.starts


def bare_trainer(steps: int, clock):
    return L.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, num_sanity_val_steps=0, callbacks=[clock], gradient_clip_val=1.0)


def engine_trainer(workdir):
    """`build_trainer` as the engine calls it (every callback, the CSV logger, checkpoint IO), for the null module."""
    def make(steps: int, clock):
        cfg = config(f"trainer.max_steps={steps}", output_dir=workdir)
        config_dict = cfg.model_dump(mode="json")
        run_dir = workdir / f"null-engine-{time.monotonic_ns()}"
        return build_trainer(cfg, run_dir, make_checkpoint_io(config_dict, config_fingerprint(config_dict, RESUME_SAFE_KEYS)),
                             extra_callbacks=(clock,), max_epochs=10**6)

    return make


def per_step_us(starts: list[float], warmup: int = 20) -> tuple[float, float]:
    """(median, mean) interval between batch starts after the warm-up, in µs."""
    steps = [b - a for a, b in zip(starts[warmup:], starts[warmup + 1:])]
    return statistics.median(steps) * 1e6, statistics.fmean(steps) * 1e6


def fixed_costs(workdir, steps: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Per-step µs (best run's median, median run's mean) of each loop on the null model; the loops alternate."""
    loops = {"plain PyTorch loop": plain_steps, "Lightning alone": lambda n: lightning_steps(n, bare_trainer),
             "astrotrain engine": lambda n: lightning_steps(n, engine_trainer(workdir))}
    runs = {name: [] for name in loops}
    for _ in range(repeats):
        for name, loop in loops.items():
            runs[name].append(per_step_us(loop(steps)))
    return {name: (min(m for m, _ in r), statistics.median(mean for _, mean in r)) for name, r in runs.items()}
