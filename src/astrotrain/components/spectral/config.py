"""Settings of the spectral-retrieval component (`components.spectral` in the master config)."""

from __future__ import annotations

from pydantic import Field, model_validator

from ...config.base import Section, component_section
from ...errors import UserError
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
    nll_weight: float = Field(0.1, ge=0, description="weight of the Gaussian NLL training the uncertainty head (mean detached)")
    biosphere_weight: float = Field(1.0, ge=0, description="weight of the biosphere cross-entropy")

    @model_validator(mode="after")
    def _instrument_known(self):
        if self.instrument not in self.instruments:
            raise ValueError(f"instrument {self.instrument!r} is not among instruments: {sorted(self.instruments)}")
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
