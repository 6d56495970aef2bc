"""One recipe interface for every component (decision 1): setup → fit → evaluate → save.

`LightningRecipe` drives a component's LightningDataModule and LightningModule through the Trainer
`engine/trainer.py` builds; `LoopRecipe` drives a component with its own loop (`loop.py`: Flower's
federation, production's stages). The runner (`engine/runner.py`) calls the four steps in order and
writes the run directory's records itself, so provenance and metrics are written in one place.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from .callbacks import Preemption, StopAfterSteps
from .checkpoint import make_checkpoint_io
from .tracking import log_final_metrics
from .trainer import build_trainer, prepare_module


@dataclass
class Fitted:
    """What `fit` did: how far it got, and what the metrics record says about the training."""

    finished: bool
    preempted: int | None = None  # the signal that stopped it (checkpointed)
    record: dict = field(default_factory=dict)  # global_step, epoch, world_size, precision, train{...}


class LightningRecipe:
    """A Lightning component: data module + module + Trainer."""

    keeps_run_dir_on_user_error = True  # a run that trained keeps its checkpoints whatever happens later

    def __init__(self, spec, cfg, config: dict, fingerprint: str, resumed: dict, extra_callbacks: tuple = (), with_report: bool = True,
                 start=None):
        self.spec, self.cfg, self.config, self.fingerprint, self.resumed = spec, cfg, config, fingerprint, resumed
        self.extra_callbacks, self.with_report = extra_callbacks, with_report
        self.start = start  # lineage.Start: weights of a parent (--init-from) or its frozen/scaled layout again (resume, fork)

    def check(self, ckpt: Path | None) -> None:
        """Nothing beyond the runner's checks: a Lightning run resumes from any verified checkpoint."""

    def setup(self, universe, run_dir: Path) -> dict:
        """Data, model and Trainer; returns the data treatment record (splits, normalisation, sources)."""
        from lightning.fabric.utilities.exceptions import MisconfigurationException

        cfg = self.cfg
        self.run_dir = run_dir
        self.datamodule = self.spec.resolve("datamodule")(cfg, universe)
        if self.start is not None:
            self.start.before_module(self.datamodule)
        self.module = self.spec.resolve("module")(cfg, self.datamodule)
        lineage = self.start.after_module(self.module, cfg.init, self.datamodule) if self.start is not None else None
        prepare_module(self.module, cfg.trainer)
        last = str(run_dir / "checkpoints" / "last.ckpt")
        extra = ((StopAfterSteps(cfg.trainer.stop_after_steps, last),) if cfg.trainer.stop_after_steps else ()) + tuple(self.extra_callbacks)
        try:
            component_epochs = getattr(getattr(cfg.components, self.spec.name), "max_epochs", None)
            self.trainer = build_trainer(cfg, run_dir, make_checkpoint_io(self.config, self.fingerprint), extra_callbacks=extra,
                                         resume_step=self.resumed.get("global_step"), max_epochs=component_epochs,
                                         resume_row=self.resumed.get("pending_log_row"))
        except MisconfigurationException as exc:  # e.g. trainer.devices=4 on a 1-GPU machine
            raise UserError(f"the trainer settings do not fit this machine: {exc}") from None
        return {**self.datamodule.treatment(), **({"lineage": lineage} if lineage else {})}

    @property
    def loggers(self) -> list:
        return self.trainer.loggers

    @property
    def is_global_zero(self) -> bool:
        return self.trainer.is_global_zero

    def fit(self, ckpt: Path | None) -> Fitted:
        trainer = self.trainer
        started = time.perf_counter()
        trainer.fit(self.module, datamodule=self.datamodule, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
        wall = time.perf_counter() - started
        preemption = next(cb for cb in trainer.callbacks if isinstance(cb, Preemption))
        late = trainer.strategy.reduce_boolean_decision(preemption.received is not None, all=False) if trainer.world_size > 1 \
            else preemption.received is not None  # a signal after the last step: training is done, evaluation is not
        preempted = preemption.stopped_by or ((preemption.received or 15) if late else None)
        stopped = any(isinstance(cb, StopAfterSteps) and cb.stopped for cb in trainer.callbacks) or preemption.stopped_by
        if not stopped:  # the final state (a stopped run already saved its resumable mid-epoch state)
            trainer.save_checkpoint(self.run_dir / "checkpoints" / "last.ckpt", weights_only=False)
        record = {"global_step": int(trainer.global_step), "epoch": int(trainer.current_epoch), "world_size": int(trainer.world_size),
                  "precision": str(trainer.precision), "train": {"wall_time_s": round(wall, 2), "peak_rss_mb": round(peak_rss_mb(), 1)}}
        if getattr(self.datamodule, "batch_size", None) and wall > 0:
            record["train"]["samples_per_s"] = round(trainer.global_step * self.datamodule.batch_size * trainer.world_size / wall, 2)
        return Fitted(finished=not preempted and not stopped, preempted=preempted, record=record)

    def evaluate(self) -> dict:
        """Validation and test metrics, then (rank 0) the component's report: baselines, controls, plots."""
        val = self.trainer.validate(self.module, datamodule=self.datamodule, verbose=False)[0]
        test = self.trainer.test(self.module, datamodule=self.datamodule, verbose=False)[0]
        out = {"val": {k.removeprefix("val/"): float(v) for k, v in val.items()}, "test": {k.removeprefix("test/"): float(v) for k, v in test.items()}}
        if self.trainer.is_global_zero:
            report = self.spec.report and self.with_report
            out["baselines"] = self.spec.resolve("report")(self.cfg, self.module, self.datamodule, self.run_dir) if report else {}
        return out

    def save(self, metrics: dict) -> None:
        """The final metrics to the experiment trackers (the run directory has them already)."""
        log_final_metrics(self.trainer.loggers, metrics, int(self.trainer.global_step))


class LoopRecipe:
    """A component with its own loop: `loop.py` has `check(cfg)` and `train(cfg, universe, run_dir) -> metrics`
    (with `spec.loop_resumes`: `train(..., resume=ckpt, manifest=...)`, checkpointing itself as it goes)."""

    def __init__(self, spec, cfg, config: dict, fingerprint: str):
        self.spec, self.cfg = spec, cfg
        self.manifest = {"config_fingerprint": fingerprint, "config": config}
        self.loggers, self.is_global_zero = [], True
        self.ckpt: Path | None = None

    @property
    def keeps_run_dir_on_user_error(self) -> bool:
        """A loop that checks its inputs as it goes leaves nothing when refused; one that checkpointed keeps what it saved."""
        return self.spec.loop_resumes and any((self.run_dir / "checkpoints").glob("*.ckpt"))

    def check(self, ckpt: Path | None) -> None:
        if ckpt is not None and not self.spec.loop_resumes:
            raise UserError(f"component {self.spec.name} has no checkpoints to resume (its loop starts again from the beginning): start a new run")
        self.ckpt = ckpt
        self.spec.resolve("check")(self.cfg)

    def setup(self, universe, run_dir: Path) -> dict:
        self.universe, self.run_dir = universe, run_dir
        return {}

    def fit(self, ckpt: Path | None) -> Fitted:
        started = time.perf_counter()
        resumable = {"resume": ckpt, "manifest": self.manifest} if self.spec.loop_resumes else {}
        self.metrics = self.spec.resolve("loop")(self.cfg, self.universe, self.run_dir, **resumable)
        rounds = self.metrics.get("rounds", 0)
        return Fitted(finished=True, record={"global_step": rounds, "epoch": rounds, "world_size": 1, "precision": "32-true",
                                             "train": {"wall_time_s": round(time.perf_counter() - started, 2), "peak_rss_mb": round(peak_rss_mb(), 1)}})

    def evaluate(self) -> dict:
        return self.metrics

    def save(self, metrics: dict) -> None:
        """Its loop saved its own artefacts."""


def make_recipe(spec, cfg, config: dict, fingerprint: str, resumed: dict, extra_callbacks: tuple = (), with_report: bool = True, start=None):
    if spec.loop:
        return LoopRecipe(spec, cfg, config, fingerprint)
    return LightningRecipe(spec, cfg, config, fingerprint, resumed, extra_callbacks, with_report, start)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
