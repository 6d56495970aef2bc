"""The component registry: one line per component (DESIGN.md, "Components").

Entries name their parts by import path, so that listing components, validating a config or
printing `--help` never imports torch. `resolve` imports a part when training needs it.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass

from .errors import NotAvailableYet, UserError


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    task: str
    config: str  # "module:Class" of the pydantic settings
    datamodule: str | None  # "module:factory(cfg) -> LightningDataModule" (None: a component with its own loop)
    module: str | None  # "module:factory(cfg, datamodule) -> LightningModule"
    science_metrics: tuple[str, ...]  # metric keys reported in metrics.json and the README
    encoder: str | None = None  # module lending this component's encoder to fusion (MODALITY, modality_inputs, lend)
    external_data: str | None = None  # component config key that, when set, replaces the universe as data
    uses_universe: bool = True  # False: the component never reads the planet universe
    report: str | None = None  # "module:fn(cfg, module, datamodule, run_dir) -> dict": after the test, rank 0 (baselines, plots)
    phase: str = "pretrain"  # the pipeline phase that trains it (--mode full)
    loop: str | None = None  # "module:fn(cfg, universe, run_dir) -> metrics": a component with its own loop (Flower), no LightningModule
    check: str | None = None  # "module:fn(cfg)": checks of its inputs before anything is written (own-loop components)
    hpo_metric: tuple[str, str] | None = None  # (validation metric, direction) an Optuna study optimises by default

    def reads_universe(self, cfg) -> bool:
        """Whether a run of this component with `cfg` needs the planet universe."""
        if not self.uses_universe:
            return False
        return not (self.external_data and getattr(getattr(cfg.components, self.name), self.external_data))

    def resolve(self, part: str):
        target = getattr(self, part)
        module_name, _, attr = target.partition(":")
        return getattr(importlib.import_module(module_name), attr)


_ROOT = "astrotrain.components"

COMPONENTS: dict[str, ComponentSpec] = {
    "surrogate": ComponentSpec(
        name="surrogate",
        task="planet parameters → surface-T/ASR/OLR maps + climate state + habitable fraction, with uncertainty",
        config=f"{_ROOT}.surrogate.config:SurrogateConfig",
        datamodule=f"{_ROOT}.surrogate.data:build_datamodule",
        module=f"{_ROOT}.surrogate.module:build_module",
        science_metrics=("surface_temperature_rmse_K", "habitable_fraction_mae", "climate_state_accuracy"),
        encoder=f"{_ROOT}.surrogate.encoder",
        external_data="datacubes",
        report=f"{_ROOT}.surrogate.report:report",
        hpo_metric=("surface_temperature_rmse_K", "minimize"),
    ),
    "datacube": ComponentSpec(
        name="datacube",
        task="surface T/ASR/OLR maps + planet parameters → T, q, cloud, u, v on the model levels (3D U-Net)",
        config=f"{_ROOT}.datacube.config:DatacubeConfig",
        datamodule=f"{_ROOT}.datacube.data:build_datamodule",
        module=f"{_ROOT}.datacube.module:build_module",
        science_metrics=("temperature_rmse", "temperature_rmse_copy_surface", "temperature_rmse_train_mean"),
        encoder=f"{_ROOT}.datacube.encoder",
        external_data="datacubes",
        hpo_metric=("temperature_rmse", "minimize"),
    ),
    "graph_vae": ComponentSpec(
        name="graph_vae",
        task="small molecules (≤ 6 heavy atoms of C, N, O, S, P) ↔ latent space, with valence-masked decoding",
        config=f"{_ROOT}.graph_vae.config:GraphVAEConfig",
        datamodule=f"{_ROOT}.graph_vae.data:build_datamodule",
        module=f"{_ROOT}.graph_vae.module:build_module",
        science_metrics=("validity_masked", "validity_unmasked", "uniqueness_masked", "novelty_masked", "reconstruction"),
        encoder=f"{_ROOT}.graph_vae.encoder",
        report=f"{_ROOT}.graph_vae.report:report",
        uses_universe=False,
        hpo_metric=("reconstruction", "maximize"),
    ),
    "spectral": ComponentSpec(
        name="spectral",
        task="noisy transmission spectrum → log10 abundances of CO2, CH4, H2O, O2, O3 with uncertainty, and P(biosphere) (1D CNN)",
        config=f"{_ROOT}.spectral.config:SpectralConfig",
        datamodule=f"{_ROOT}.spectral.data:build_datamodule",
        module=f"{_ROOT}.spectral.module:build_module",
        science_metrics=("r2_CO2", "r2_H2O", "r2_CH4", "r2_O2", "coverage_68", "coverage_95", "biosphere_roc_auc", "false_positive_rate_abiotic_o2"),
        encoder=f"{_ROOT}.spectral.encoder",
        report=f"{_ROOT}.spectral.report:report",
        hpo_metric=("biosphere_roc_auc", "maximize"),
    ),
    "evolution": ComponentSpec(
        name="evolution",
        task="initial state (or start) of a carbonate-silicate trajectory + box-model drivers → pCO2, T, pO2, carbon reservoirs to 4.5 Gyr (patch transformer)",
        config=f"{_ROOT}.evolution.config:EvolutionConfig",
        datamodule=f"{_ROOT}.evolution.data:build_datamodule",
        module=f"{_ROOT}.evolution.module:build_module",
        science_metrics=("rmse_log10_pco2_dex", "rmse_temperature_K", "conservation_residual"),
        encoder=f"{_ROOT}.evolution.encoder",
        report=f"{_ROOT}.evolution.report:report",
        hpo_metric=("rmse_log10_pco2_dex", "minimize"),
    ),
    "multimodal": ComponentSpec(
        name="multimodal",
        task="fusion transformer over the pretrained encoders (parameters, climate maps, spectrum, gas inventory, evolution) → climate state, habitable fraction, P(biosphere), from any subset of modalities",
        config=f"{_ROOT}.multimodal.config:MultimodalConfig",
        datamodule=f"{_ROOT}.multimodal.data:build_datamodule",
        module=f"{_ROOT}.multimodal.module:build_module",
        science_metrics=("accuracy", "macro_f1", "ece", "biosphere_roc_auc", "habitable_fraction_mae", "score"),
        report=f"{_ROOT}.multimodal.report:report",
        phase="integrate",
        hpo_metric=("score", "maximize"),
    ),
    "llm": ComponentSpec(
        name="llm",
        task="LoRA/QLoRA causal LM that answers questions about a planet, grounded by prefix tokens projected from the fusion embedding (phase 3 of --mode full)",
        config=f"{_ROOT}.llm.config:LLMConfig",
        datamodule=f"{_ROOT}.llm.data:build_datamodule",
        module=f"{_ROOT}.llm.module:build_module",
        science_metrics=("perplexity", "answer_nll"),
        report=f"{_ROOT}.llm.report:report",
        phase="llm",
        hpo_metric=("perplexity", "minimize"),
    ),
}

def _own_loop(name: str, task: str, config_class: str, science_metrics: tuple[str, ...], **kwargs) -> ComponentSpec:
    """A component with its own loop (no LightningModule): `<name>/module.py` has `train` and `check`; it is phase `<name>`."""
    return ComponentSpec(name=name, task=task, config=f"{_ROOT}.{name}.config:{config_class}", datamodule=None, module=None,
                         science_metrics=science_metrics, phase=name, loop=f"{_ROOT}.{name}.module:train",
                         check=f"{_ROOT}.{name}.module:check", **kwargs)


COMPONENTS["galactic"] = _own_loop(
    "galactic",
    "federated training of the fusion model across K observatories (non-IID host stars and instruments) with Flower (phase 4 of --mode full)",
    "GalacticConfig",
    ("score", "accuracy", "biosphere_roc_auc", "habitable_fraction_mae"),
)
COMPONENTS["production"] = _own_loop(
    "production",
    "ships phases 1-2: ONNX export with parity, int8, a distilled fast surrogate, latency vs CLERO, model card, predict on real catalogs (phase 5 of --mode full)",
    "ProductionConfig",
    ("fast_surrogate_onnx_surface_temperature_rmse_K", "surrogate_onnx_surface_temperature_rmse_K", "fusion_onnx_accuracy"),
    uses_universe=False,  # it reads the source run's universe itself
)

PLANNED: dict[str, str] = {}


def get_component(name: str) -> ComponentSpec:
    """The spec of `name`, or a clear error listing what exists (and what is planned)."""
    if name in COMPONENTS:
        return COMPONENTS[name]
    if name in PLANNED:
        raise NotAvailableYet(f"component '{name}'", f"{PLANNED[name]}; available now: {', '.join(COMPONENTS)}")
    close = difflib.get_close_matches(name, list(COMPONENTS) + list(PLANNED), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    planned = f"; planned: {', '.join(PLANNED)}" if PLANNED else ""
    raise UserError(f"unknown component '{name}'.{hint} Available: {', '.join(COMPONENTS)}{planned}.")
