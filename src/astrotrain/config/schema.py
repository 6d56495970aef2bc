"""The schema of config/master_training.yaml: every key, its type, range and meaning.

Component sections live in their component's `config.py`; this file assembles them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..components.datacube.config import DatacubeConfig
from ..components.evolution.config import EvolutionConfig
from ..components.galactic.config import GalacticConfig
from ..components.production.config import ProductionConfig
from ..hpo.config import HPOConfig
from ..components.graph_vae.config import GraphVAEConfig
from ..components.llm.config import LLMConfig
from ..components.multimodal.config import MultimodalConfig
from ..components.spectral.config import SpectralConfig
from ..components.surrogate.config import SurrogateConfig
from .base import Section


class RunConfig(Section):
    name: str = Field("surrogate", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="suffix of the run directory name")
    output_dir: str = Field("runs", description="parent folder of run directories")
    mode: Literal["component", "full", "optimize"] = Field("component", description="what train.py runs")
    component: str = Field("surrogate", description="the component trained in component mode")
    seed: int = Field(42, ge=0, le=2**32 - 1, description="global seed: weights, dropout, shuffling")
    deterministic: bool = Field(True, description="deterministic algorithms (bitwise-reproducible on CPU)")


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

    train: float = Field(0.75, gt=0, lt=1)
    val: float = Field(0.10, gt=0, lt=1)
    test: float = Field(0.15, gt=0, lt=1)
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
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    devices: int = Field(1, ge=1, le=1024, description="processes (GPUs, or CPU processes) per node")
    num_nodes: int = Field(1, ge=1, le=4096)
    strategy: Literal["auto", "ddp"] = Field("auto", description="ddp = DistributedDataParallel")
    precision: Literal["32-true", "mixed", "bf16-mixed", "16-mixed"] = Field(
        "32-true", description="'mixed' = bf16-mixed on CPU; on GPU bf16-mixed where supported, else 16-mixed"
    )
    max_epochs: int = Field(300, ge=1)
    max_steps: int = Field(-1, ge=-1, description="-1 = no step limit")
    gradient_clip_val: float = Field(1.0, ge=0)
    log_every_n_steps: int = Field(25, ge=1)
    check_val_every_n_epoch: int = Field(50, ge=1)
    checkpoint_every_n_steps: int = Field(2000, ge=1)
    keep_checkpoints: int = Field(2, ge=1, description="newest step checkpoints kept, besides last.ckpt")
    stop_after_steps: int | None = Field(None, ge=1, description="end this process after N steps of its own, resumable (time-sliced jobs)")
    divergence_retries: int | None = Field(3, ge=0, le=100, description="non-finite gradient → roll back to the last checkpoint's state with "
                                           "the lr × divergence_lr_factor, at most this often, then stop (null = no guard)")
    divergence_lr_factor: float = Field(0.5, gt=0, lt=1, description="learning-rate multiplier of each rollback")
    enable_progress_bar: bool = True


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


class PhysicsConfig(Section):
    constraints: bool = Field(False, description="enable components' physics constraints (--physics-constraints)")


class ComponentsConfig(Section):
    surrogate: SurrogateConfig = SurrogateConfig()
    datacube: DatacubeConfig = DatacubeConfig()
    graph_vae: GraphVAEConfig = GraphVAEConfig()
    spectral: SpectralConfig = SpectralConfig()
    evolution: EvolutionConfig = EvolutionConfig()
    multimodal: MultimodalConfig = MultimodalConfig()
    llm: LLMConfig = LLMConfig()
    galactic: GalacticConfig = GalacticConfig()
    production: ProductionConfig = ProductionConfig()


PHASE_NAMES = ("pretrain", "integrate", "llm", "galactic", "production")
PhaseName = Literal["pretrain", "integrate", "llm", "galactic", "production"]
PRETRAIN_COMPONENTS = ("surrogate", "datacube", "graph_vae", "spectral", "evolution")


class PretrainEpochs(Section):
    """Phase-1 epochs per component inside the pipeline (null: the component's own max_epochs).
    About a fifth to a third of each standalone default (phase 1 only has to give fusion good
    encoders), half for the surrogate: phase 5 ships it, and its surface-T RMSE must stay under 1 K."""

    surrogate: int | None = Field(150, ge=1)
    datacube: int | None = Field(4, ge=1)
    graph_vae: int | None = Field(10, ge=1)
    spectral: int | None = Field(20, ge=1)
    evolution: int | None = Field(100, ge=1)


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
    components: ComponentsConfig = ComponentsConfig()
    pipeline: PipelineConfig = PipelineConfig()
    hpo: HPOConfig = HPOConfig()


# Keys a resumed run may change without --force-config-change: they decide how visibly a run
# goes on and where it stops, not what it computes. The run length (max_epochs, max_steps) is
# not among them: the LR schedule is part of the checkpoint and spans the original length.
RESUME_SAFE_KEYS = (
    "run.name",
    "components.multimodal.pretrained",  # where the pipeline's phase 1 lies: a moved run directory still resumes
    "components.llm.fusion",  # … and its phase 2
    "components.galactic.fusion",
    "components.production.source",
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
