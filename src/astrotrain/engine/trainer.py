"""The one place that maps the config to a Lightning `Trainer` (DESIGN.md, "Training engine")."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from ..errors import UserError
from ..faults import fault_callback
from .callbacks import DivergenceGuard, EpochEndLoaderState, FlushLogsOnCheckpoint, OptimizerKernel, Preemption, RunMonitor
from .rng import RNGStateCallback
from .tracking import build_loggers


def resolve_accelerator(requested: str) -> str:
    if requested == "gpu" and not torch.cuda.is_available():
        raise UserError("trainer.accelerator=gpu but no CUDA GPU is visible; use trainer.accelerator=cpu (or auto)")
    if requested == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    return requested


def resolve_precision(precision: str, accelerator: str) -> str:
    """'mixed' → bf16-mixed on CPU; on GPU bf16-mixed where supported, else 16-mixed."""
    if precision == "mixed":
        if accelerator == "cpu":
            return "bf16-mixed"
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    if precision == "16-mixed" and accelerator == "cpu":
        raise UserError("trainer.precision=16-mixed needs a GPU; on CPU use bf16-mixed (or --mixed-precision)")
    return precision


def prepare_module(module, trainer_cfg) -> None:
    """`trainer.channels_last` and `trainer.compile`, in place: parameter names (and so checkpoints) unchanged.

    Channels-last (NHWC) is the layout oneDNN and cuDNN convolutions run fastest in; the weights
    are converted here and activations follow the weights. `compile` is `nn.Module.compile()`
    (TorchInductor): the module's forward is traced and fused on its first call."""
    if trainer_cfg.channels_last:
        module.to(memory_format=torch.channels_last)
    if trainer_cfg.compile:
        module.compile()


def build_strategy(cfg, accelerator: str):
    if cfg.trainer.strategy != "ddp" and cfg.trainer.devices * cfg.trainer.num_nodes == 1:
        return "auto"
    from lightning.pytorch.strategies import DDPStrategy

    backend = "nccl" if accelerator == "gpu" else "gloo"
    return DDPStrategy(process_group_backend=backend)


class _NoAdverts(logging.Filter):
    """Drops Lightning's product tips from its rank-zero log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "💡 Tip" not in record.getMessage()


def quiet_third_party_noise() -> None:
    """Silence advertising and deprecation chatter of dependencies (not our own warnings)."""
    import warnings

    rank_zero_logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _NoAdverts) for f in rank_zero_logger.filters):
        rank_zero_logger.addFilter(_NoAdverts())
    warnings.filterwarnings("ignore", message=".*'set_vital' is deprecated.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*is deprecated.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*callbacks used to create the checkpoint need to be provided.*")
    # small data: fewer batches per epoch than trainer.log_every_n_steps; the CSV log still gets every epoch's rows
    warnings.filterwarnings("ignore", message=".*is smaller than the logging interval.*")


def build_trainer(cfg, run_dir: Path, checkpoint_io, extra_callbacks: tuple = (), resume_step: int | None = None,
                  max_epochs: int | None = None, resume_row: dict | None = None):
    """Lightning Trainer for `cfg` writing into `run_dir`: precision, strategy, determinism, loggers, checkpoints."""
    import lightning as L
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint

    quiet_third_party_noise()
    accelerator = resolve_accelerator(cfg.trainer.accelerator)
    if cfg.run.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by deterministic cuBLAS
    t = cfg.trainer
    checkpoints = ModelCheckpoint(
        dirpath=str(run_dir / "checkpoints"),
        filename="step={step:07d}",
        auto_insert_metric_name=False,
        every_n_train_steps=t.checkpoint_every_n_steps,
        save_top_k=t.keep_checkpoints,
        monitor="step",
        mode="max",
        save_last=True,
    )
    precision = resolve_precision(t.precision, accelerator)
    injected = fault_callback()  # only under the reliability tests (ASTROTRAIN_FAULT); first, so the guard sees what it does
    # the guard acts before anything that stops and checkpoints at a step's end; under 16-mixed the GradScaler
    # owns inf gradients (it skips the step and lowers the scale), so there is no guard
    guard = [DivergenceGuard(t.divergence_lr_factor, t.divergence_retries, str(run_dir / "divergence.json"), clip=t.gradient_clip_val or None)] \
        if t.divergence_retries is not None and precision != "16-mixed" else []
    # the monitor before the guard: it reads the gradient norm before the guard clips it
    kernel = [OptimizerKernel(t.optimizer_kernel)] if t.optimizer_kernel != "foreach" else []  # first: before the guard snapshots the optimiser
    callbacks = [*kernel, *([injected] if injected else []), checkpoints, RNGStateCallback(), LearningRateMonitor(logging_interval="step"),
                 RunMonitor(cfg.logging.monitor_every_n_steps), *guard, EpochEndLoaderState(), FlushLogsOnCheckpoint(),
                 Preemption(str(run_dir / "checkpoints" / "last.ckpt")), *extra_callbacks]
    return L.Trainer(
        accelerator=accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=build_strategy(cfg, accelerator),
        precision=precision,
        max_epochs=max_epochs or t.max_epochs,  # a component may set its own
        max_steps=t.max_steps,
        gradient_clip_val=None if guard else t.gradient_clip_val or None,  # with the guard, it clips (one norm for both)
        log_every_n_steps=t.log_every_n_steps,
        check_val_every_n_epoch=t.check_val_every_n_epoch,
        enable_progress_bar=t.enable_progress_bar,
        deterministic=cfg.run.deterministic,
        benchmark=False,
        num_sanity_val_steps=0,
        logger=build_loggers(cfg, run_dir, resume_step, resume_row),  # tracking.py: csv + logging.backends
        callbacks=callbacks,
        plugins=[checkpoint_io],
        default_root_dir=str(run_dir),
        enable_model_summary=False,
        use_distributed_sampler=False,  # components shard their own samplers (data/sampler.py)
    )
