"""Spectral retrieval: abundances and biosphere evidence from transmission spectra.

`python train.py --component spectral` observes every universe planet's analytic transmission
spectrum (`forward.py`, Heng & Kitzmann 2017) with the configured instrument (`instrument.py`)
and trains a 1D CNN with a posterior head (`model.py`, `posterior.py`: Gaussian, or a normalising
flow trained by neural posterior estimation) over the log10 abundances, terminator T and radius;
P(biosphere) is read from the posterior's gases. Observed CSV/ECSV spectra: `observed.py`; the
Ariel Big Challenge's files: `challenge.py`.
"""

from __future__ import annotations

from ...config.spec import ComponentSpec, Lends
from .config import SpectralConfig

SPEC = ComponentSpec(
    name="spectral",
    task="noisy transmission spectrum → posterior over log10 abundances (CO2, CH4, H2O, O2, O3, N2O), T, radius (1D CNN + Gaussian or flow head), P(biosphere) from it",
    config=SpectralConfig,
    order=4,
    datamodule="data:build_datamodule",
    module="module:build_module",
    report="report:report",
    preflight="config:check_pipeline",
    encoder="encoder",
    lends=Lends("spectrum", position=3),
    science_metrics=("r2_CO2", "r2_H2O", "r2_CH4", "r2_O2", "coverage_68", "coverage_95", "hpd_coverage_68", "hpd_coverage_95", "biosphere_roc_auc", "false_positive_rate_abiotic_o2"),
    hpo_metric=("biosphere_roc_auc", "maximize"),
    produces=("checkpoint", "encoder", "retrieval (the gases modality's inputs)"),
    pipeline_epochs=20,
)
