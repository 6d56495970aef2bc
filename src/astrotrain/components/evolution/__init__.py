"""The evolution emulator: a sequence model of carbonate-silicate evolution.

`python train.py --component evolution` learns to forecast a planet's trajectory (pCO2, T, pO2 and
the carbon reservoirs to 4.5 Gyr) from its initial state (or a longer given start) and its box-model
drivers; the trajectories come from `astrotrain.universe.evolution` (solve_ivp). Metrics: log pCO2
RMSE (dex), T RMSE (K), carbon-conservation residual, and speed against the ODE.
"""

from __future__ import annotations

from ...config.spec import ComponentSpec, Lends
from .config import EvolutionConfig

SPEC = ComponentSpec(
    name="evolution",
    task="initial state (or start) of a carbonate-silicate trajectory + box-model drivers → pCO2, T, pO2, carbon reservoirs to 4.5 Gyr (patch transformer)",
    config=EvolutionConfig,
    order=5,
    datamodule="data:build_datamodule",
    module="module:build_module",
    report="report:report",
    encoder="encoder",
    lends=Lends("evolution", position=5, observed=False, unobservable_because=(
        "carbonate-silicate box-model drivers (carbon inventory, outgassing, weatherability, the O2 mode and the oxygenation time) "
        "that no telescope measures; the O2 mode encodes the biosphere scenario itself")),
    science_metrics=("rmse_log10_pco2_dex", "rmse_temperature_K", "conservation_residual"),
    hpo_metric=("rmse_log10_pco2_dex", "minimize"),
    produces=("checkpoint", "encoder"),
    pipeline_epochs=100,
)
