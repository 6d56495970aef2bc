"""The datacube: a physics-constrained 3D U-Net over climate datacubes.

`python train.py --component datacube [--physics-constraints]` reconstructs T, q, cloud fraction,
u and v on the model levels from surface T, ASR and OLR maps plus the planet parameters, on the
CLERO universe or on GCM output ingested with `astrotrain data ingest` (`components.datacube.datacubes`).
"""

from __future__ import annotations

from ...config.spec import ComponentSpec, Lends
from .config import DatacubeConfig

SPEC = ComponentSpec(
    name="datacube",
    task="surface T/ASR/OLR maps + planet parameters → T, q, cloud, u, v on the model levels (3D U-Net)",
    config=DatacubeConfig,
    order=2,
    datamodule="data:build_datamodule",
    module="module:build_module",
    encoder="encoder",
    lends=Lends("climate", position=2, observed=False, unobservable_because=(
        "resolved surface T/ASR/OLR maps: no instrument returns them for a temperate rocky exoplanet (a disc-integrated thermal "
        "phase curve is the most one could measure, far below a spectrum's signal), and the habitable-fraction label is a fixed "
        "function of the true surface-temperature map")),
    science_metrics=("temperature_rmse", "temperature_rmse_copy_surface", "temperature_rmse_train_mean"),
    hpo_metric=("temperature_rmse", "minimize"),
    produces=("checkpoint", "encoder"),
    pipeline_epochs=4,
    external_data="datacubes",
)
