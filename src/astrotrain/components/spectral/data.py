"""Data of the spectral retrieval, split by planet: universe atmospheres → instrument spectra, or the
Ariel Big Challenge's files (challenge.py) through the same door (`components.spectral.dataset`).

Noise-free transit depths are computed once per run (forward.py on the instrument's native
grid, averaged into its bins: ~1 s for 6,000 planets). Noise is white and Gaussian with the
instrument's σ (the challenge's: each file's σ per bin): redrawn at every training step (a fresh
observation each time, seeded by (run.seed, rank, step) in the module, so a resumed run draws the same
noise), fixed once per planet for the validation and test splits (seeded by run.seed and the split).
"""

from __future__ import annotations

import numpy as np
import torch

from ...data.splits import planet_splits, treatment_record
from ...data.tensors import PlanetTensors, SplitDataModule
from ...universe.biosphere import SCENARIOS
from ...universe.store import Universe
from .challenge import AUX_COLUMNS, H2_T_OVER_MU, ChallengeData, read_challenge, resample_traces
from .challenge import GASES as CHALLENGE_GASES
from .forward import DEFAULT_OPACITIES, R_EARTH, OpacityTable, stellar_radius, transit_depth
from .instrument import Instrument, binning_matrix, build_instrument
from .model import ROCKY_T_OVER_MU

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


def dequantised(log_x: np.ndarray, floor: float, seed: int) -> np.ndarray:
    """`log_x` with every value at the floor replaced by a uniform draw over the decade below it (fixed per
    planet, seeded): "absent" (up to 64 % of the planets for O2 and O3) is then a range rather than a point
    mass, which no continuous density represents — a flow's NLL would sharpen it without bound, and the
    coverage of a point at the edge of the support is undefined (dequantisation: Uria et al. 2013)."""
    out = log_x.copy()
    at_floor = log_x <= np.log10(floor) + 1e-9
    out[at_floor] = np.log10(floor) - np.random.default_rng([seed, 0xF1]).uniform(0.0, 1.0, size=log_x.shape)[at_floor]
    return out


def universe_arrays(universe: Universe, cfg, instrument: Instrument, seed: int) -> dict:
    """Per-planet arrays of the universe's retrieval: noise-free depths on the instrument, its σ, the
    observer's context, targets (log10 abundances, terminator T, radius) and the biosphere truth."""
    atmosphere, params = universe.atmosphere, universe.parameters
    depth = planet_spectra(universe, instrument, OpacityTable.from_csv(cfg.opacity_table or DEFAULT_OPACITIES))
    gases = dequantised(log_abundances(atmosphere, cfg.abundance_floor), cfg.abundance_floor, seed)
    targets = np.concatenate([gases, atmosphere[["terminator_temperature"]].to_numpy(), params[["radius"]].to_numpy()], axis=1)
    return {
        "depth": depth,
        "sigma": np.full(depth.shape, instrument.noise_ppm * 1e-6),
        "context": params[list(CONTEXT)].to_numpy(np.float64),
        "r_star": stellar_radius(params["T_star"].to_numpy()),
        "gravity": params["gravity"].to_numpy(np.float64),
        "targets": targets,
        "biosphere": atmosphere["biosphere"].to_numpy().astype(np.float64),
        "scenario": np.array([SCENARIOS.index(s) for s in atmosphere["scenario"]], dtype=np.int64),
    }


def challenge_arrays(data: ChallengeData, seed: int) -> dict:
    """The same arrays from the Ariel challenge's files: context is the log10 of the 9 auxiliary values;
    targets the parameter table's, and where traces are given, TRACE_DRAWS of their samples per planet
    (training then draws its target from the reference posterior at every step; a planet without a trace
    keeps its parameters)."""
    aux = dict(zip(AUX_COLUMNS, data.aux.T))
    arrays = {"depth": data.spectrum, "sigma": data.noise, "context": np.log10(data.aux), "r_star": aux["star_radius_m"], "gravity": aux["planet_surface_gravity"]}
    if data.traces is not None:
        arrays["trace"] = resample_traces(data.traces, data.targets, TRACE_DRAWS, seed)
    arrays["targets"] = data.targets if data.targets is not None else arrays["trace"][:, 0]
    return arrays


TRACE_DRAWS = 64  # equally weighted samples kept of each reference trace


class SpectralDataModule(SplitDataModule):
    def __init__(self, universe: Universe, cfg, split, batch_size: int, num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.universe, self.cfg, self.split = universe, cfg, split
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.challenge = read_challenge(cfg.challenge_dir) if cfg.dataset == "ariel_abc" else None
        self.instrument = build_instrument(cfg) if self.challenge is None else None
        self.wavelength = self.instrument.wavelength if self.challenge is None else self.challenge.wavelength_um
        self.target_names = UNIVERSE_TARGETS if self.challenge is None else CHALLENGE_TARGETS
        self.n_gases = len(TARGET_GASES) if self.challenge is None else len(CHALLENGE_GASES)
        self.datasets: dict[str, PlanetTensors] = {}
        self.indices: dict[str, np.ndarray] = {}
        self.stats: dict[str, np.ndarray] = {}

    @property
    def has_biosphere(self) -> bool:
        return self.challenge is None

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        if self.challenge is None:
            arrays = universe_arrays(self.universe, self.cfg, self.instrument, self.seed)
            t_over_mu = ROCKY_T_OVER_MU
        else:
            arrays = challenge_arrays(self.challenge, self.seed)
            t_over_mu = H2_T_OVER_MU
        self.indices = planet_splits(len(arrays["depth"]), self.split.train, self.split.val, self.split.seed)
        train = self.indices["train"]
        targets, context = arrays["targets"], arrays["context"]
        self.stats = {
            "target_mean": targets[train].mean(axis=0), "target_std": targets[train].std(axis=0) + 1e-6,
            "context_mean": context[train].mean(axis=0), "context_std": context[train].std(axis=0) + 1e-6,
            "t_over_mu": np.float64(t_over_mu),
        }
        white_light = np.sqrt(arrays["depth"][train]).mean(axis=1) * arrays["r_star"][train] / R_EARTH  # as altitude_spectrum computes it
        self.stats.update(radius_mean=white_light.mean(), radius_std=white_light.std() + 1e-6)
        arrays["planet"] = np.arange(len(targets))
        for offset, (name, idx) in enumerate(self.indices.items()):
            fixed = np.random.default_rng([self.seed, 0x5BEC, offset]).normal(size=(len(idx), arrays["depth"].shape[1])) * arrays["sigma"][idx]
            tensors = {key: torch.from_numpy(np.ascontiguousarray(value[idx]).astype(np.int64 if key in ("scenario", "planet") else np.float32)) for key, value in arrays.items()}
            tensors["noise"] = torch.from_numpy((np.zeros_like(fixed) if name == "train" else fixed).astype(np.float32))
            self.datasets[name] = PlanetTensors(**tensors)

    def treatment(self) -> dict:
        self.setup()
        if self.challenge is None:
            inst = self.instrument
            source = {"instrument": {"name": inst.name, "wavelength_um": [inst.wavelength_min_um, inst.wavelength_max_um], "resolution": inst.resolution,
                                     "noise_ppm": inst.noise_ppm, "bins": int(len(inst.wavelength))},
                      "opacity_table": str(self.cfg.opacity_table or DEFAULT_OPACITIES)}
        else:
            source = {"ariel_challenge": str(self.cfg.challenge_dir), "planets": len(self.challenge.planet_ids), "bins": int(len(self.wavelength)),
                      "targets_from": "parameter table" if self.challenge.targets is not None else f"trace draws ({TRACE_DRAWS} per planet)"}
        return treatment_record(self.indices, {**source, "targets": list(self.target_names), **{key: np.asarray(value).tolist() for key, value in self.stats.items()}})


UNIVERSE_TARGETS = (*TARGET_GASES, "terminator_temperature", "radius")
"""Metric names of the universe's targets: log10 abundances by gas name, then T [K] and radius [R_earth]."""
CHALLENGE_TARGETS = (*CHALLENGE_GASES, "planet_temp", "planet_radius")


def build_datamodule(cfg, universe: Universe) -> SpectralDataModule:
    sc = cfg.components.spectral  # observed files and the challenge's directory were checked with the config (config.py)
    return SpectralDataModule(universe, sc, cfg.data.split, sc.batch_size, cfg.data.num_workers, cfg.run.seed)
