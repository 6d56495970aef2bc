"""Spectral retrieval: abundances and biosphere evidence from transmission spectra.

`python train.py --component spectral` observes every universe planet's analytic transmission
spectrum (`forward.py`, Heng & Kitzmann 2017) with the configured instrument (`instrument.py`)
and trains a 1D CNN (`model.py`) to return log10 abundances of CO2, CH4, H2O, O2, O3 with
calibrated uncertainties, and P(biosphere). Observed CSV/ECSV spectra: `observed.py`.
"""

from __future__ import annotations

from ...config.spec import ComponentSpec, Lends
from .config import SpectralConfig

SPEC = ComponentSpec(
    name="spectral",
    task="noisy transmission spectrum → log10 abundances of CO2, CH4, H2O, O2, O3 with uncertainty, and P(biosphere) (1D CNN)",
    config=SpectralConfig,
    order=4,
    datamodule="data:build_datamodule",
    module="module:build_module",
    report="report:report",
    encoder="encoder",
    lends=Lends("spectrum", position=3),
    science_metrics=("r2_CO2", "r2_H2O", "r2_CH4", "r2_O2", "coverage_68", "coverage_95", "biosphere_roc_auc", "false_positive_rate_abiotic_o2"),
    hpo_metric=("biosphere_roc_auc", "maximize"),
    produces=("checkpoint", "encoder", "retrieval (the gases modality's inputs)"),
    pipeline_epochs=20,
)
