"""The spectral component (issue #6): retrieval of abundances and biosphere evidence from transmission spectra.

`python train.py --component spectral` observes every universe planet's analytic transmission
spectrum (`forward.py`, Heng & Kitzmann 2017) with the configured instrument (`instrument.py`)
and trains a 1D CNN (`model.py`) to return log10 abundances of CO2, CH4, H2O, O2, O3 with
calibrated uncertainties, and P(biosphere). Observed CSV/ECSV spectra: `observed.py`.
"""
