"""The surrogate: a transformer emulating CLERO (planet parameters → climate maps + labels, with uncertainty).

`data.py` (universe or ingested GCM runs → PCA targets), `model.py` (the transformer), `module.py`
(losses, metrics), `physics.py` (nightside ASR = 0, energy balance), `encoder.py` (the parameters
modality lent to fusion), `report.py` (baselines, map plots).
"""

from __future__ import annotations

from ...config.spec import ComponentSpec, Lends
from .config import SurrogateConfig

SPEC = ComponentSpec(
    name="surrogate",
    task="planet parameters → surface-T/ASR/OLR maps + climate state + habitable fraction, with uncertainty",
    config=SurrogateConfig,
    order=1,
    datamodule="data:build_datamodule",
    module="module:build_module",
    report="report:report",
    encoder="encoder",
    lends=Lends("parameters", position=1),
    science_metrics=("surface_temperature_rmse_K", "habitable_fraction_mae", "climate_state_accuracy"),
    hpo_metric=("surface_temperature_rmse_K", "minimize"),
    produces=("checkpoint", "encoder", "surface-temperature emulator (shipped by production)"),
    pipeline_epochs=150,  # production ships it: its surface-T RMSE must stay under 1 K
    external_data="datacubes",
)
