"""What a component says about itself: `SPEC = ComponentSpec(...)` in `components/<name>/__init__.py`.

Everything else that needs the list of components — the components section of the config schema,
the pipeline's phases, fusion's modalities, the keys a resume may change — reads the specs
(`config/registry.py`), so adding a component is adding its folder. A spec imports only its
component's pydantic settings (no torch): listing components and validating a config stay fast.

The parts a spec names by path ("module:attribute", relative to the component's package) are
imported only when training needs them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

PHASES = ("pretrain", "integrate", "llm", "galactic", "production")  # the pipeline's phases, in order


@dataclass(frozen=True)
class Lends:
    """The modality a component's encoder lends to fusion (`encoder.py`: MODALITY, modality_inputs, lend)."""

    modality: str
    position: int  # the modality's token position in fusion (fixed: a trained fusion model depends on it)
    observed: bool = True  # an instrument or a retrieval gives it, with its noise
    unobservable_because: str = ""  # why no observer has it (fusing it needs components.multimodal.oracle_modalities=true)
    retrieved_through: str | None = None  # the component whose run makes its inputs (a retrieval), not the truth


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    task: str
    config: type  # the pydantic settings of `components.<name>`
    phase: str = "pretrain"  # the pipeline phase that trains it
    order: int = 0  # position among the components (phase 1 runs them in this order)
    datamodule: str | None = None  # "data:build_datamodule" — (cfg, universe) -> LightningDataModule
    module: str | None = None  # "module:build_module" — (cfg, datamodule) -> LightningModule
    loop: str | None = None  # "loop:train" — (cfg, universe, run_dir) -> metrics: a component with its own loop
    loop_resumes: bool = False  # its loop checkpoints (checkpoints/last.ckpt) and continues: loop(..., resume=ckpt, manifest=...)
    check: str | None = None  # "loop:check" — (cfg): what it refuses before anything is written
    preflight: str | None = None  # "loop:check_environment" — (cfg): environment checks the pipeline makes before phase 1
    report: str | None = None  # "report:report" — (cfg, module, datamodule, run_dir) -> dict, after the test, on rank 0
    encoder: str | None = None  # "encoder" — the module that lends this component's encoder to fusion
    lends: Lends | None = None
    science_metrics: tuple[str, ...] = ()  # headline keys of metrics.json
    hpo_metric: tuple[str, str] | None = None  # (validation metric, direction) an Optuna study optimises by default
    consumes: dict[str, str] = field(default_factory=dict)  # settings key → the earlier phase whose run it reads (the pipeline sets it)
    produces: tuple[str, ...] = ()  # what its run directory holds for later phases
    pipeline_epochs: int | None = None  # phase-1 epochs inside the pipeline (null: its own)
    external_data: str | None = None  # settings key that, when set, replaces the universe as data
    uses_universe: bool = True  # False: it never reads the planet universe

    def reads_universe(self, cfg) -> bool:
        """Whether a run of this component with `cfg` needs the planet universe."""
        if not self.uses_universe:
            return False
        return not (self.external_data and getattr(getattr(cfg.components, self.name), self.external_data))

    def resolve(self, part: str):
        """The attribute a part names ("module:attribute" inside the component's package), imported now."""
        target = getattr(self, part)
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(f"astrotrain.components.{self.name}.{module_name}")
        return getattr(module, attr) if attr else module

    @property
    def encoder_module(self) -> str:
        return f"astrotrain.components.{self.name}.{self.encoder}"
