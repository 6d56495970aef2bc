"""The Ariel Big Challenge (ABC) data format, and the challenge's posterior score.

The ABC database (Changeat & Yip 2023, RASTI 2, 45) of the Ariel data challenges 2022-23 is what the
field trains retrieval networks on. A directory in that layout holds

- `SpectralData.hdf5`: one group per planet (`Planet_<id>`) with `instrument_wlgrid` (µm),
  `instrument_spectrum` (transit depth, not scattered by noise), `instrument_noise` (1σ) and
  `instrument_width` (bin width, µm), every planet on the same grid;
- `AuxillaryTable.csv`: `planet_ID` and 9 stellar/planet facts an observer has (star distance,
  mass, radius and temperature; planet mass, period, orbital distance, radius, surface gravity);
- targets, in `Ground Truth Package/` or beside the others: `FM_Parameter_Table.csv` (the forward
  model's parameters: planet_radius [R_J], planet_temp [K], log_H2O, log_CO2, log_CO, log_CH4,
  log_NH3) and/or `Tracedata.hdf5` (per planet `tracedata` `[k, 7]` nested-sampling samples in that
  order with their `weights`): the reference posteriors.

`read_challenge` reads and checks it; every problem ends in one UserError naming the file and the fix.
`posterior_score` is the challenge's K-S metric: 1000 × (1 − the two-sample Kolmogorov-Smirnov distance
between predicted samples and the weighted reference trace, averaged over parameters and planets).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import UserError

SPECTRA_FILE, AUX_FILE, TABLE_FILE, TRACE_FILE = "SpectralData.hdf5", "AuxillaryTable.csv", "FM_Parameter_Table.csv", "Tracedata.hdf5"
TRUTH_DIR = "Ground Truth Package"
AUX_COLUMNS = ("star_distance", "star_mass_kg", "star_radius_m", "star_temperature", "planet_mass_kg",
               "planet_orbital_period", "planet_distance", "planet_radius_m", "planet_surface_gravity")
TRACE_ORDER = ("planet_radius", "planet_temp", "log_H2O", "log_CO2", "log_CO", "log_CH4", "log_NH3")
"""Columns of `tracedata` and of the parameter table."""
TARGETS = ("log_H2O", "log_CO2", "log_CO", "log_CH4", "log_NH3", "planet_temp", "planet_radius")
"""The retrieval's target vector: the log10 abundances first (as for the universe), then T and R."""
GASES = tuple(name.removeprefix("log_") for name in TARGETS if name.startswith("log_"))
H2_T_OVER_MU = 1000.0 / 2.3  # K mol/g: reference scale height of the challenge's hot, H2-dominated giants


@dataclass(frozen=True)
class ChallengeData:
    planet_ids: list[str]
    wavelength_um: np.ndarray  # [bins]
    width_um: np.ndarray  # [bins]
    spectrum: np.ndarray  # [planet, bins] transit depth
    noise: np.ndarray  # [planet, bins] 1σ
    aux: np.ndarray  # [planet, 9] AUX_COLUMNS
    targets: np.ndarray | None  # [planet, 7] TARGETS, from the parameter table
    traces: list[tuple[np.ndarray, np.ndarray] | None] | None  # per planet (samples [k, 7] in TARGETS order, weights [k]), None without one


def _find(directory: Path, name: str) -> Path | None:
    for path in (directory / name, directory / TRUTH_DIR / name):
        if path.is_file():
            return path
    return None


def challenge_files(directory: str | Path) -> dict[str, Path | None]:
    """The layout's files under `directory`, checked to be there (targets: the table, the traces, or both)."""
    directory = Path(directory)
    fix = f"point components.spectral.challenge_dir at a directory with {SPECTRA_FILE}, {AUX_FILE} and {TABLE_FILE} and/or {TRACE_FILE}"
    if not directory.is_dir():
        raise UserError(f"Ariel challenge directory {directory} does not exist; {fix}")
    files = {name: _find(directory, name) for name in (SPECTRA_FILE, AUX_FILE, TABLE_FILE, TRACE_FILE)}
    missing = [name for name in (SPECTRA_FILE, AUX_FILE) if files[name] is None]
    if missing or (files[TABLE_FILE] is None and files[TRACE_FILE] is None):
        what = missing or [f"{TABLE_FILE} or {TRACE_FILE} (the targets)"]
        raise UserError(f"Ariel challenge directory {directory} lacks {', '.join(what)}; {fix}")
    return files


def _group(handle, planet_id: str):
    for key in (f"Planet_{planet_id}", str(planet_id)):
        if key in handle:
            return handle[key]
    return None


def read_challenge(directory: str | Path) -> ChallengeData:
    import h5py
    import pandas as pd

    files = challenge_files(directory)
    aux_path = files[AUX_FILE]
    aux = _read_table(aux_path, ("planet_ID", *AUX_COLUMNS))
    ids = [str(i) for i in aux["planet_ID"]]
    values = aux[list(AUX_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    _check_finite_positive(values, aux_path, AUX_COLUMNS, ids)
    spectra_path = files[SPECTRA_FILE]
    try:
        handle = h5py.File(spectra_path, "r")
    except OSError as exc:
        raise UserError(f"cannot open {spectra_path} as HDF5 ({exc}); it must be the challenge's {SPECTRA_FILE}") from None
    with handle:
        arrays = {key: [] for key in ("instrument_wlgrid", "instrument_width", "instrument_spectrum", "instrument_noise")}
        for pid in ids:
            group = _group(handle, pid)
            if group is None:
                raise UserError(f"{spectra_path} has no group Planet_{pid} for planet_ID {pid} of {aux_path}; the two files must list the same planets")
            for key in arrays:
                if key not in group:
                    raise UserError(f"{spectra_path}: group {group.name} lacks {key!r}; each planet needs {', '.join(arrays)}")
                arrays[key].append(np.asarray(group[key][()], dtype=np.float64))
    grid = arrays["instrument_wlgrid"][0]
    for pid, other in zip(ids, arrays["instrument_wlgrid"]):
        if other.shape != grid.shape or not np.allclose(other, grid, rtol=1e-9):
            raise UserError(f"{spectra_path}: planet {pid} is on another wavelength grid than planet {ids[0]}; the retrieval needs one grid (rebin first)")
    spectrum, noise = np.stack(arrays["instrument_spectrum"]), np.stack(arrays["instrument_noise"])
    for name, block in (("instrument_spectrum", spectrum), ("instrument_noise", noise)):
        _check_finite_positive(block, spectra_path, [f"{name}[{i}]" for i in range(block.shape[1])], ids)
    targets = None
    if files[TABLE_FILE] is not None:
        table = _read_table(files[TABLE_FILE], ("planet_ID", *TRACE_ORDER)).set_index("planet_ID")
        table.index = table.index.astype(str)
        absent = [pid for pid in ids if pid not in table.index]
        if absent:
            raise UserError(f"{files[TABLE_FILE]} has no row for planet_ID {absent[0]} ({len(absent)} planets of {aux_path}); give every planet its parameters")
        targets = table.loc[ids, list(TARGETS)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
        bad = np.flatnonzero(~np.isfinite(targets).all(axis=1))
        if bad.size:
            raise UserError(f"{files[TABLE_FILE]}: planet {ids[bad[0]]} has a missing or non-numeric parameter; fix or remove it")
    traces = _read_traces(files[TRACE_FILE], ids, required=targets is None) if files[TRACE_FILE] is not None else None
    return ChallengeData(ids, grid, arrays["instrument_width"][0], spectrum, noise, values, targets, traces)


def _read_table(path: Path, columns):
    import pandas as pd

    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path} as CSV ({exc})") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise UserError(f"{path} lacks the column(s) {missing}; the challenge's layout has {', '.join(columns)}")
    return table


def _check_finite_positive(values: np.ndarray, path: Path, columns, ids) -> None:
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise UserError(f"{path}: {columns[col]} of planet {ids[row]} is {float(values[row, col])!r}; every value must be a finite number > 0")


def _read_traces(path: Path, ids: list[str], required: bool) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per planet (samples in TARGETS order, normalised weights), or None where the file has no usable trace
    (the challenge gives reference posteriors for a part of its training planets only); `required`:
    every planet must have one (no parameter table to fall back on)."""
    import h5py

    order = [TRACE_ORDER.index(name) for name in TARGETS]
    out = []
    with h5py.File(path, "r") as handle:
        for pid in ids:
            group = _group(handle, pid)
            trace = None
            if group is not None and "tracedata" in group and "weights" in group:
                samples, weights = np.asarray(group["tracedata"][()], np.float64), np.asarray(group["weights"][()], np.float64)
                usable = samples.ndim == 2 and samples.shape[1] == len(TRACE_ORDER) and len(weights) == len(samples) and len(samples) > 0
                if usable and np.isfinite(samples).all() and np.isfinite(weights).all() and (weights >= 0).all() and weights.sum() > 0:
                    trace = (samples[:, order], weights / weights.sum())
            if trace is None and required:
                raise UserError(f"{path} has no usable trace for planet {pid} (tracedata [k, {len(TRACE_ORDER)}]: {', '.join(TRACE_ORDER)}, finite, "
                                f"with k weights >= 0 summing > 0), and there is no {TABLE_FILE} to take its parameters from; add one of the two")
            out.append(trace)
    return out


def resample_traces(traces, targets: np.ndarray | None, draws: int, seed: int) -> np.ndarray:
    """`[planet, draws, 7]` equally weighted draws from each weighted trace (multinomial, seeded); a planet
    without a trace repeats its parameters from `targets`."""
    rng = np.random.default_rng([seed, 0xABC])
    return np.stack([np.repeat(targets[i][None], draws, axis=0) if trace is None else trace[0][rng.choice(len(trace[0]), size=draws, p=trace[1])]
                     for i, trace in enumerate(traces)])


def weighted_ks(samples: np.ndarray, reference: np.ndarray, weights: np.ndarray) -> float:
    """Two-sample K-S distance sup |F_samples − F_reference| with the reference's empirical CDF weighted."""
    points = np.sort(np.concatenate([samples, reference]))
    f_samples = np.searchsorted(np.sort(samples), points, side="right") / len(samples)
    order = np.argsort(reference)
    cumulative = np.concatenate([[0.0], np.cumsum(weights[order])])
    f_reference = cumulative[np.searchsorted(reference[order], points, side="right")]
    return float(np.abs(f_samples - f_reference).max())


def posterior_score(predicted: list[np.ndarray], traces: list[tuple[np.ndarray, np.ndarray] | None]) -> float:
    """The challenge's posterior score of per-planet sample arrays `[n, 7]` against the reference traces
    (planets without a trace are not scored)."""
    distances = [weighted_ks(pred[:, j], trace[0][:, j], trace[1]) for pred, trace in zip(predicted, traces) if trace is not None for j in range(pred.shape[1])]
    return 1000.0 * (1.0 - float(np.mean(distances)))
