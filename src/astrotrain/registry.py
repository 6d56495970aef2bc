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
    datamodule: str  # "module:factory(cfg) -> LightningDataModule"
    module: str  # "module:factory(cfg, datamodule) -> LightningModule"
    science_metrics: tuple[str, ...]  # metric keys reported in metrics.json and the README
    encoder: str | None = None  # "module:Class" lent to fusion (issue 7)
    external_data: str | None = None  # component config key that, when set, replaces the universe as data
    uses_universe: bool = True  # False: the component never reads the planet universe

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
        encoder=f"{_ROOT}.surrogate.model:SurrogateTransformer",
    ),
    "datacube": ComponentSpec(
        name="datacube",
        task="surface T/ASR/OLR maps + planet parameters → T, q, cloud, u, v on the model levels (3D U-Net)",
        config=f"{_ROOT}.datacube.config:DatacubeConfig",
        datamodule=f"{_ROOT}.datacube.data:build_datamodule",
        module=f"{_ROOT}.datacube.module:build_module",
        science_metrics=("temperature_rmse", "temperature_rmse_copy_surface", "temperature_rmse_train_mean"),
        encoder=f"{_ROOT}.datacube.model:DatacubeUNet",
        external_data="datacubes",
    ),
    "graph_vae": ComponentSpec(
        name="graph_vae",
        task="small molecules (≤ 6 heavy atoms of C, N, O, S, P) ↔ latent space, with valence-masked decoding",
        config=f"{_ROOT}.graph_vae.config:GraphVAEConfig",
        datamodule=f"{_ROOT}.graph_vae.data:build_datamodule",
        module=f"{_ROOT}.graph_vae.module:build_module",
        science_metrics=("validity_masked", "validity_unmasked", "uniqueness_masked", "novelty_masked", "reconstruction"),
        encoder=f"{_ROOT}.graph_vae.model:GraphVAE",
        uses_universe=False,
    ),
}

PLANNED: dict[str, str] = {
    "spectral": "issue #6",
    "evolution": "issue #6",
    "multimodal": "issue #7",
    "llm": "issue #8",
    "galactic": "issue #9",
}


def get_component(name: str) -> ComponentSpec:
    """The spec of `name`, or a clear error listing what exists (and what is planned)."""
    if name in COMPONENTS:
        return COMPONENTS[name]
    if name in PLANNED:
        raise NotAvailableYet(f"component '{name}'", f"{PLANNED[name]}; available now: {', '.join(COMPONENTS)}")
    close = difflib.get_close_matches(name, list(COMPONENTS) + list(PLANNED), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise UserError(
        f"unknown component '{name}'.{hint} Available: {', '.join(COMPONENTS)}; planned: {', '.join(PLANNED)}."
    )
