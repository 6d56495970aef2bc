"""The schema of config/master_training.yaml: every key, its type, range, default and meaning.

Component sections live in their component's `config.py` and are assembled here from the component
specs (`registry.specs()`); so are the pipeline's phase-1 epochs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Section
from .hpo import HPOConfig
from .registry import phase_components, resume_safe_component_keys, specs
from .spec import PHASES


class RunConfig(Section):
    """What train.py runs, where it writes, and its seed."""

    name: str | None = Field(None, min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="suffix of the run directory name; "
                             "null = the component's name (full for --mode full)")
    output_dir: str = Field("runs", description="parent folder of run directories")
    mode: Literal["component", "full", "optimize"] = Field("component", description="what train.py runs")
    component: str = Field("surrogate", description="the component trained in component mode")
    seed: int = Field(42, ge=0, le=2**32 - 1, description="global seed: weights, dropout, shuffling")
    deterministic: bool = Field(True, description="deterministic algorithms (bitwise-reproducible on CPU)")

    @property
    def directory_name(self) -> str:
        """The run directory's suffix: run.name, else what runs (the component, or full)."""
        return self.name or ("full" if self.mode == "full" else self.component)


class UniverseConfig(Section):
    """The simulated planet population (the embedded default data)."""

    n_planets: int = Field(6000, ge=16, le=1_000_000, description="planets to simulate")
    seed: int = Field(0, ge=0, description="seed of the parameter sampling")
    cache_dir: str = Field("data/universe", description="where generated universes are cached")
    clero_batch_size: int = Field(256, ge=1, le=4096, description="planets per CLERO call")
    co2_range: tuple[float, float] = Field((1e-6, 0.95), description="CO2 volume fraction, sampled log-uniform")
    ch4_range: tuple[float, float] = Field((1e-8, 0.05), description="CH4 volume fraction, sampled log-uniform")
    evolution_method: Literal["LSODA", "BDF", "Radau", "RK45", "DOP853"] = Field("LSODA", description="solve_ivp method of the evolution box model")
    evolution_rtol: float = Field(1e-6, gt=0, le=1e-2, description="relative tolerance of the evolution integration")
    evolution_max_evaluations: int = Field(20000, ge=100, description="right-hand-side evaluations before a trajectory counts as failed")

    @model_validator(mode="after")
    def _check_ranges(self):
        for name in ("co2_range", "ch4_range"):
            lo, hi = getattr(self, name)
            if not 0 < lo < hi:
                raise ValueError(f"{name} must satisfy 0 < low < high, got {lo}, {hi}")
        if self.co2_range[1] > 1.0 or self.ch4_range[1] > 0.05:
            raise ValueError("CO2 must be <= 1 and CH4 <= 0.05 (CLERO's domain)")
        if self.co2_range[1] + self.ch4_range[1] > 1.0:
            raise ValueError("co2_range high + ch4_range high must be <= 1 (volume fractions)")
        return self


class SplitConfig(Section):
    """Split by planet: no planet appears in two splits."""

    train: float = Field(0.75, gt=0, lt=1, description="share of planets to train on (4,500 of the default 6,000)")
    val: float = Field(0.10, gt=0, lt=1, description="share of validation planets (model selection, curves, σ calibration)")
    test: float = Field(0.15, gt=0, lt=1, description="share of held-out planets: every reported metric")
    seed: int = Field(0, ge=0, description="seed of the planet permutation")

    @model_validator(mode="after")
    def _sum_to_one(self):
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must be 1, got {total:g}")
        return self


class AtmosphereConfig(Section):
    """The atmosphere assumed for real planets (not observed): Earth-like by default."""

    P0: float = Field(1.0, gt=0, le=100, description="surface pressure [bar]")
    CO2: float = Field(4.0e-4, ge=0, le=1, description="CO2 volume fraction")
    CH4: float = Field(0.0, ge=0, le=0.05, description="CH4 volume fraction")


class ArchiveConfig(Section):
    """The NASA Exoplanet Archive (pscomppars over TAP) and its cache."""

    cache_dir: str = Field("data/nasa", description="cached table + manifest")
    tap_url: str = Field("https://exoplanetarchive.ipac.caltech.edu/TAP", description="TAP service")
    timeout_s: float = Field(60.0, gt=0, description="query timeout")
    default_atmosphere: AtmosphereConfig = AtmosphereConfig()


class CatalogNoise(Section):
    """Fractional 1σ (log-normal) of what a catalog measures: typical of the characterised temperate
    rocky planets (spectroscopic T_eff of M dwarfs ±50-100 K, Mann et al. 2015; instellation from L and a;
    transit radii 3-5 %; radial-velocity masses 10-20 %, hence gravity; P_rot = the transit period)."""

    T_star: float = Field(0.02, ge=0, le=1, description="stellar effective temperature")
    F_star: float = Field(0.08, ge=0, le=1, description="instellation")
    radius: float = Field(0.04, ge=0, le=1, description="planet radius")
    gravity: float = Field(0.15, ge=0, le=1, description="surface gravity (mass / radius²)")
    P_rot: float = Field(0.0, ge=0, le=1, description="rotation period (= the orbital period of a tidally locked planet)")


class ObservationConfig(Section):
    """What a model's parameters modality sees of a universe planet: its catalog entry (data/observation.py)."""

    catalog_noise: CatalogNoise = CatalogNoise()


class DataConfig(Section):
    universe: UniverseConfig = UniverseConfig()
    observation: ObservationConfig = ObservationConfig()
    split: SplitConfig = SplitConfig()
    archive: ArchiveConfig = ArchiveConfig()
    reports_dir: str = Field("data/reports", description="where `astrotrain data report` writes")
    num_workers: int = Field(0, ge=0, le=64, description="data-loader worker processes (prefetch in the background)")
    in_memory: bool | None = Field(None, description="hold a component's arrays in memory (true) or read batches from Zarr (false); "
                                                     "null = in memory when they fit in memory_budget_gb")
    memory_budget_gb: float = Field(8.0, gt=0, description="largest data (GB) held in memory when in_memory is null")
    shuffle: Literal["auto", "planets", "chunks"] = Field("auto", description="training order: every planet shuffled (planets), or "
                                                          "chunk-aware (chunks: storage chunks shuffled, then planets within a buffer of "
                                                          "them); auto = planets in memory, chunks when streaming")
    shuffle_buffer_chunks: int = Field(4, ge=1, le=4096, description="chunks whose planets are shuffled together (chunk-aware shuffling)")
    smiles: str | None = Field(None, description="SMILES file (one per line) the graph VAE trains on instead of the enumerated space")


class TrainerConfig(Section):
    accelerator: Literal["auto", "cpu", "gpu"] = Field("auto", description="auto: a GPU where there is one")
    devices: int = Field(1, ge=1, le=1024, description="processes (GPUs, or CPU processes) per node")
    num_nodes: int = Field(1, ge=1, le=4096, description="nodes (--nodes M), launched by torchrun or SLURM")
    strategy: Literal["auto", "ddp"] = Field("auto", description="ddp = DistributedDataParallel")
    precision: Literal["32-true", "mixed", "bf16-mixed", "16-mixed"] = Field(
        "32-true", description="'mixed' = bf16-mixed on CPU; on GPU bf16-mixed where supported, else 16-mixed"
    )
    max_epochs: int = Field(300, ge=1, description="epochs of a component without its own max_epochs (the LR schedule spans them)")
    max_steps: int = Field(-1, ge=-1, description="-1 = no step limit")
    gradient_clip_val: float = Field(1.0, ge=0, description="clip the global gradient norm (0 = off)")
    log_every_n_steps: int = Field(25, ge=1, description="training-metric cadence (CSV, TensorBoard, ...)")
    check_val_every_n_epoch: int = Field(50, ge=1, description="validation cadence")
    checkpoint_every_n_steps: int = Field(2000, ge=1, description="step checkpoints (plus last.ckpt at the end)")
    keep_checkpoints: int = Field(2, ge=1, description="newest step checkpoints kept, besides last.ckpt")
    stop_after_steps: int | None = Field(None, ge=1, description="end this process after N steps of its own, resumable (time-sliced jobs)")
    divergence_retries: int | None = Field(3, ge=0, le=100, description="non-finite gradient → roll back to the last checkpoint's state with "
                                           "the lr × divergence_lr_factor, at most this often, then stop (null = no guard)")
    divergence_lr_factor: float = Field(0.5, gt=0, lt=1, description="learning-rate multiplier of each rollback")
    enable_progress_bar: bool = Field(True, description="a progress bar on the terminal")
    compile: bool = Field(False, description="torch.compile the component's module (first steps slower while it compiles; BENCHMARKS.md, table 7)")
    channels_last: bool = Field(False, description="convolution weights and activations in channels-last (NHWC) memory format")
    optimizer_kernel: Literal["foreach", "fused"] = Field("foreach", description="AdamW implementation: foreach (multi-tensor) or fused "
                                                           "(one kernel per parameter group; same update up to float rounding)")


Backend = Literal["csv", "tensorboard", "wandb", "mlflow"]


class LoggingConfig(Section):
    backends: list[Backend] = Field(["csv"], min_length=1, description="tracking backends; csv is always written (the run directory is the source of truth)")
    wandb_project: str = Field("astrotrain", min_length=1, description="W&B project")
    wandb_mode: Literal["offline", "online"] = Field("offline", description="offline: never a login prompt; upload later with `wandb sync <run>/logs/wandb/offline-run-*`")
    mlflow_tracking_uri: str | None = Field(None, description="MLflow tracking URI; null = sqlite:///<run.output_dir>/mlflow.db (a local store)")
    mlflow_experiment: str = Field("astrotrain", min_length=1, description="MLflow experiment name")
    monitor_every_n_steps: int = Field(50, ge=1, description="cadence of samples/s, step time, peak memory and gradient norm")

    @field_validator("backends")
    @classmethod
    def _csv_always(cls, backends: list[str]) -> list[str]:
        if len(set(backends)) != len(backends):
            raise ValueError(f"lists a backend twice: {backends}")
        return backends if "csv" in backends else ["csv", *backends]


class InitConfig(Section):
    """A new run that starts from a trained run's weights (`--init-from`): its own optimiser, schedule and run directory."""

    checkpoint: str | None = Field(None, description="checkpoint file, component run or --mode full run whose weights start this run "
                                   "(--init-from); null = fresh weights")
    strict: bool = Field(False, description="refuse to start when a weight is missing, extra or of another shape (--strict-init); "
                         "false = report those and initialise them fresh")
    freeze: list[str] = Field(default_factory=list, description="modules kept fixed: prefixes of the component's parameter names, "
                              "e.g. [model.encoder] (`astrotrain runs` and provenance.json list what matched)")
    lr_multiplier: float = Field(1.0, gt=0, le=10.0, description="learning rate of the loaded, unfrozen weights as a multiple of the "
                                 "component's lr; freshly initialised weights train at the full lr")

    @model_validator(mode="after")
    def _needs_a_checkpoint(self):
        typed = [key for key, unset in (("strict", not self.strict), ("freeze", not self.freeze), ("lr_multiplier", self.lr_multiplier == 1.0))
                 if not unset]
        if typed and self.checkpoint is None:
            raise ValueError(f"init.{typed[0]} applies to weights loaded from a trained run: set init.checkpoint (--init-from RUN_OR_CKPT) "
                             f"or drop init.{typed[0]}")
        return self


class PhysicsConfig(Section):
    constraints: bool = Field(False, description="enable components' physics constraints (--physics-constraints)")


def _components_section() -> type[Section]:
    """`components:` — one section per component spec, each its own pydantic model."""
    from pydantic import create_model

    fields = {name: (spec.config, Field(default_factory=spec.config, description=spec.task)) for name, spec in specs().items()}
    return create_model("ComponentsConfig", __base__=Section, __doc__="Every component's settings (components/<name>/config.py).", **fields)


ComponentsConfig = _components_section()
PHASE_NAMES = PHASES
PhaseName = Literal[PHASES]  # type: ignore[valid-type]
PRETRAIN_COMPONENTS = tuple(phase_components("pretrain"))


def _pretrain_epochs() -> type[Section]:
    from pydantic import create_model

    fields = {name: (int | None, Field(specs()[name].pipeline_epochs, ge=1, description=f"phase-1 epochs of {name} (null: its own max_epochs)"))
              for name in PRETRAIN_COMPONENTS}
    return create_model("PretrainEpochs", __base__=Section, **fields, __doc__=(
        "Phase-1 epochs per component inside the pipeline (null: the component's own max_epochs). About a fifth to a third "
        "of each standalone default (phase 1 only has to give fusion good encoders), half for the surrogate: phase 5 ships "
        "it, and its surface-T RMSE must stay under 1 K."))


PretrainEpochs = _pretrain_epochs()


class PretrainPhaseConfig(Section):
    """Phase 1: every enabled component on its own data."""

    max_epochs: PretrainEpochs = PretrainEpochs()


class PipelineConfig(Section):
    """The 5-phase pipeline of `--mode full` (DESIGN.md, "The 5-phase pipeline")."""

    phases: list[PhaseName] = Field(list(PHASE_NAMES), min_length=1, description="phases to run, in pipeline order")
    pretrain: PretrainPhaseConfig = PretrainPhaseConfig()

    @field_validator("phases")
    @classmethod
    def _in_order(cls, phases):
        order = [PHASE_NAMES.index(p) for p in phases]
        if order != sorted(set(order)):
            raise ValueError(f"phases must be distinct and in pipeline order {list(PHASE_NAMES)}, got {phases}")
        return phases


class MasterConfig(Section):
    run: RunConfig = RunConfig()
    data: DataConfig = DataConfig()
    trainer: TrainerConfig = TrainerConfig()
    logging: LoggingConfig = LoggingConfig()
    physics: PhysicsConfig = PhysicsConfig()
    init: InitConfig = InitConfig()
    components: ComponentsConfig = ComponentsConfig()
    pipeline: PipelineConfig = PipelineConfig()
    hpo: HPOConfig = HPOConfig()


# Keys a resumed run may change without --force-config-change: they decide how visibly a run
# goes on and where it stops, not what it computes. The run length (max_epochs, max_steps) is
# not among them: the LR schedule is part of the checkpoint and spans the original length.
RESUME_SAFE_KEYS = (
    "run.name",
    *resume_safe_component_keys(),  # where a component reads an earlier phase's run: a moved run directory still resumes
    "hpo",  # how a search would run: nothing a trained model depends on
    "run.output_dir",
    "trainer.log_every_n_steps",
    "trainer.checkpoint_every_n_steps",
    "trainer.keep_checkpoints",
    "trainer.stop_after_steps",
    "trainer.divergence_retries",  # the guard: how a run reacts to divergence, not what it trains
    "trainer.divergence_lr_factor",
    "trainer.enable_progress_bar",
    "logging",
)
