"""Data of the spectral retrieval: universe atmospheres → instrument spectra, split by planet.

Noise-free transit depths are computed once per run (forward.py on the instrument's native
grid, averaged into its bins: ~1 s for 6,000 planets). Noise is white and Gaussian with the
instrument's σ: redrawn at every training step (a fresh observation each time, seeded by
(run.seed, step), so a resumed run draws the same noise), fixed once per planet for the
validation and test splits (seeded by run.seed and the split).
"""

from __future__ import annotations

import numpy as np
import torch

from ...data.splits import planet_splits, treatment_record
from ...data.tensors import PlanetTensors, SplitDataModule
from ...universe.biosphere import SCENARIOS
from ...universe.store import Universe
from .forward import DEFAULT_OPACITIES, OpacityTable, stellar_radius, transit_depth
from .instrument import Instrument, binning_matrix, build_instrument

TARGET_GASES = ("CO2", "CH4", "H2O", "O2", "O3", "N2O")
"""Retrieved gases (log10 volume mixing ratio): every gas with bands in the forward model's opacity
table. O3 is the O2 proxy visible even at low O2; CH3Cl and DMS have no bands there, so no
observer of this universe retrieves them."""
FALSE_POSITIVE_SCENARIOS = ("abiotic_water_loss_o2", "abiotic_photolysis_o2")
CHUNK = 256  # planets per forward-model call
CONTEXT = ("T_star", "gravity")
"""What an observer knows besides the spectrum: the host's temperature (hence its radius) and
the planet's surface gravity (radial-velocity mass + white-light radius)."""


def planet_spectra(universe: Universe, instrument: Instrument, table: OpacityTable, chunk: int = CHUNK) -> np.ndarray:
    """Noise-free transit depth `[planet, bin]` of every universe planet on `instrument`'s bins, `chunk` planets per
    vectorised forward-model call (chunk=1 is the per-planet loop BENCHMARKS.md compares against)."""
    atmosphere = universe.atmosphere
    params = universe.parameters
    inputs = {name: atmosphere[name].to_numpy() for name in atmosphere.columns if name.startswith("x_") or name in ("mu", "terminator_temperature", "cloud_top_pressure")}
    inputs.update({name: params[name].to_numpy() for name in ("gravity", "radius", "P0", "T_star")})
    native = instrument.native_grid()
    averaging = binning_matrix(native, instrument.edges).T
    out = np.empty((len(params), len(instrument.wavelength)))
    for start in range(0, len(out), chunk):  # binned chunk by chunk: the native grid is ~10^4 points
        planets = {name: values[start : start + chunk] for name, values in inputs.items()}
        out[start : start + chunk] = transit_depth(native, planets, table) @ averaging
    return out


def log_abundances(atmosphere, floor: float) -> np.ndarray:
    """`[planet, gas]` log10 of the volume mixing ratios of TARGET_GASES, floored at `floor`."""
    return np.log10(np.maximum(np.stack([atmosphere[f"x_{g}"].to_numpy() for g in TARGET_GASES], axis=1), floor))


class SpectralDataModule(SplitDataModule):
    def __init__(self, universe: Universe, cfg, split, batch_size: int, num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.universe, self.cfg, self.split = universe, cfg, split
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.instrument = build_instrument(cfg)
        self.opacities = OpacityTable.from_csv(cfg.opacity_table or DEFAULT_OPACITIES)
        self.datasets: dict[str, PlanetTensors] = {}
        self.indices: dict[str, np.ndarray] = {}
        self.stats: dict[str, np.ndarray] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        atmosphere, params = self.universe.atmosphere, self.universe.parameters
        n = len(params)
        self.indices = planet_splits(n, self.split.train, self.split.val, self.split.seed)
        depth = planet_spectra(self.universe, self.instrument, self.opacities)
        targets = log_abundances(atmosphere, self.cfg.abundance_floor)
        context = params[list(CONTEXT)].to_numpy(np.float64)
        train = self.indices["train"]
        self.stats = {
            "target_mean": targets[train].mean(axis=0),
            "target_std": targets[train].std(axis=0) + 1e-6,
            "context_mean": context[train].mean(axis=0),
            "context_std": context[train].std(axis=0) + 1e-6,
        }
        sigma = np.full(depth.shape[1], self.instrument.noise_ppm * 1e-6)
        scenario = np.array([SCENARIOS.index(s) for s in atmosphere["scenario"]], dtype=np.int64)
        for offset, (name, idx) in enumerate(self.indices.items()):
            fixed = np.random.default_rng([self.seed, 0x5BEC, offset]).normal(size=(len(idx), depth.shape[1])) * sigma
            self.datasets[name] = PlanetTensors(
                depth=torch.from_numpy(depth[idx].astype(np.float32)),
                noise=torch.from_numpy((np.zeros_like(fixed) if name == "train" else fixed).astype(np.float32)),
                sigma=torch.from_numpy(np.broadcast_to(sigma, (len(idx), len(sigma))).astype(np.float32)),
                context=torch.from_numpy(context[idx].astype(np.float32)),
                r_star=torch.from_numpy(stellar_radius(params["T_star"].to_numpy()[idx]).astype(np.float32)),
                targets=torch.from_numpy(targets[idx].astype(np.float32)),
                biosphere=torch.from_numpy(atmosphere["biosphere"].to_numpy()[idx].astype(np.float32)),
                scenario=torch.from_numpy(scenario[idx]),
            )

    def treatment(self) -> dict:
        self.setup()
        inst = self.instrument
        return treatment_record(
            self.indices,
            {
                "instrument": {"name": inst.name, "wavelength_um": [inst.wavelength_min_um, inst.wavelength_max_um], "resolution": inst.resolution,
                               "noise_ppm": inst.noise_ppm, "bins": int(len(inst.wavelength))},
                "opacity_table": self.opacities.source,
                "targets": [f"log10 x_{g} (floor {self.cfg.abundance_floor:g})" for g in TARGET_GASES],
                **{key: value.tolist() for key, value in self.stats.items()},
            },
        )


def build_datamodule(cfg, universe: Universe) -> SpectralDataModule:
    sc = cfg.components.spectral  # observed files were checked with the config (config.py)
    return SpectralDataModule(universe, sc, cfg.data.split, sc.batch_size, cfg.data.num_workers, cfg.run.seed)
