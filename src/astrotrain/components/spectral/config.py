"""Settings of the spectral-retrieval component (`components.spectral` in the master config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ...config.base import Section, component_section
from ...errors import UserError
from .challenge import challenge_files
from .instrument import build_instrument
from .observed import check_observed_files


class InstrumentConfig(Section):
    """One observing setup: wavelength range, resolving power and white noise per bin."""

    wavelength_min_um: float = Field(gt=0.1, lt=30.0, description="shortest wavelength, µm")
    wavelength_max_um: float = Field(gt=0.1, le=30.0, description="longest wavelength, µm")
    resolution: float = Field(gt=1.0, le=1000.0, description="resolving power λ/Δλ of the bins")
    noise_ppm: float = Field(ge=0.0, le=1e5, description="white noise per bin, transit-depth ppm (1σ)")

    @model_validator(mode="after")
    def _range(self):
        if self.wavelength_max_um <= self.wavelength_min_um * 1.05:
            raise ValueError(f"wavelength_max_um={self.wavelength_max_um} must exceed wavelength_min_um={self.wavelength_min_um} by > 5 %")
        return self


DEFAULT_INSTRUMENTS = {
    # a photon-limited future mission stacking many transits (the default: the retrieval targets)
    "future_1ppm": InstrumentConfig(wavelength_min_um=0.5, wavelength_max_um=20.0, resolution=100, noise_ppm=1.0),
    # JWST NIRSpec PRISM, ~10 stacked transits of a quiet M dwarf (noise floor ~10 ppm)
    "jwst_nirspec_prism": InstrumentConfig(wavelength_min_um=0.6, wavelength_max_um=5.3, resolution=100, noise_ppm=10.0),
    # JWST MIRI LRS slitless
    "jwst_miri_lrs": InstrumentConfig(wavelength_min_um=5.0, wavelength_max_um=12.0, resolution=50, noise_ppm=30.0),
    # Ariel (Tier 2), 0.5-7.8 µm
    "ariel": InstrumentConfig(wavelength_min_um=0.5, wavelength_max_um=7.8, resolution=50, noise_ppm=20.0),
}


class SpectralConfig(
    component_section("Spectral", unit="spectra", max_epochs=60, batch_size=128, lr=0.002, weight_decay=0.0001, warmup_steps=100, min_lr_ratio=0.02)
):
    dataset: Literal["universe", "ariel_abc"] = Field("universe", description="what is retrieved: the universe's planets observed with `instrument`, or the Ariel Big Challenge files of `challenge_dir`")
    challenge_dir: str | None = Field(None, description="directory of an Ariel Big Challenge dataset (SpectralData.hdf5, AuxillaryTable.csv, FM_Parameter_Table.csv and/or Tracedata.hdf5); dataset=ariel_abc")
    posterior: Literal["gaussian", "flow"] = Field("gaussian", description="posterior head: gaussian (mean ± σ per target, σ scaled on validation) or flow (a conditional neural spline flow over the joint targets, trained by NPE)")
    posterior_samples: int = Field(256, ge=16, le=100000, description="posterior samples per spectrum for point estimates, coverage, P(biosphere)")
    flow_transforms: int = Field(3, ge=1, le=16, description="autoregressive spline transforms of the flow")
    flow_hidden: int = Field(128, ge=8, le=4096, description="width of each transform's two hidden layers")
    flow_bins: int = Field(8, ge=2, le=64, description="rational-quadratic spline bins per transform")
    instrument: str = Field("future_1ppm", description="key of `instruments` the spectra are observed with")
    instruments: dict[str, InstrumentConfig] = Field(default_factory=lambda: dict(DEFAULT_INSTRUMENTS), description="observing setups by name")
    opacity_table: str | None = Field(None, description="CSV of band opacities (gas,centre_um,width_um,peak_cm2); null = the packaged table")
    abundance_floor: float = Field(1e-10, gt=0, lt=1e-3, description="volume mixing ratio below which a gas counts as absent (log10 target floor)")
    detection_sigma: float = Field(2.0, gt=0, le=10, description="a gas is detected where its retrieval exceeds detection_floor at this many σ")
    detection_floor: float = Field(1e-9, gt=0, lt=1, description="volume mixing ratio a detection must exclude (below it: 'not detected', an upper limit)")
    observed: list[str] = Field(default_factory=list, description="observed spectra (CSV/ECSV: wavelength_um, depth, error) retrieved after training")
    width: int = Field(32, ge=4, le=1024, description="channels of the first convolution stage (doubling per stage)")
    stages: int = Field(4, ge=1, le=8, description="residual stages, each halving the wavelength axis")
    hidden: int = Field(256, ge=8, le=8192, description="width of the MLP heads")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout in the CNN and head")
    nll_weight: float = Field(0.1, ge=0, description="posterior=gaussian: weight of the Gaussian NLL training the uncertainty head (mean detached)")
    biosphere_weight: float = Field(1.0, ge=0, description="weight of the cross-entropy of the biosphere likelihood P(biosphere | true gases)")

    @model_validator(mode="after")
    def _instrument_known(self):
        if self.instrument not in self.instruments:
            raise ValueError(f"instrument {self.instrument!r} is not among instruments: {sorted(self.instruments)}")
        return self

    @model_validator(mode="after")
    def _challenge_files_are_there(self):
        """dataset=ariel_abc needs its directory, checked with the config (also by --validate-only)."""
        if self.dataset == "ariel_abc":
            if self.challenge_dir is None:
                raise ValueError("dataset='ariel_abc' needs challenge_dir: the directory of the challenge's SpectralData.hdf5, AuxillaryTable.csv and targets")
            if self.observed:
                raise ValueError("observed spectra are retrieved on the universe's instrument bins; with dataset='ariel_abc' leave observed empty")
            try:
                challenge_files(self.challenge_dir)
            except UserError as exc:
                raise ValueError(str(exc)) from None
        return self

    @model_validator(mode="after")
    def _observed_files_fit_the_instrument(self):
        """Observed spectra are read and checked with the config (also by --validate-only), before anything runs."""
        if self.observed:
            try:
                check_observed_files(self.observed, build_instrument(self))
            except UserError as exc:
                raise ValueError(str(exc)) from None
        return self


def check_pipeline(cfg) -> None:
    """`--mode full` refuses a spectral run on the challenge's files before phase 1: fusion and the galactic
    phase observe the universe's planets through the spectral run."""
    if cfg.components.spectral.dataset != "universe":
        raise UserError(f"components.spectral.dataset={cfg.components.spectral.dataset!r} trains on the Ariel challenge's files, but in --mode full "
                        "fusion and the galactic phase observe the universe's planets through the spectral run; keep dataset=universe in the "
                        "pipeline and train on the challenge with --component spectral")
