"""Observed transmission spectra: reading, checking, and binning onto the model's instrument.

Files are CSV or ECSV (astropy) tables with the columns `wavelength` (µm; in an ECSV file
any length unit, converted), `depth` (transit depth (Rp/R⋆)², a fraction) and `error` (its 1σ),
and the two facts the retrieval needs besides the spectrum, `T_star` (K) and `gravity` (m/s²):
header lines `# T_star: 3300` / `# gravity: 9.8` in a CSV, keys of the ECSV meta block.
Every problem ends in one `UserError` naming the file, the row where there is one, and the fix:
non-finite values, wavelengths not strictly increasing, errors <= 0, or a wavelength range that
does not cover the model's (the network only knows its instrument's bins). Points are binned
into the instrument's bins by inverse-variance weighting (σ_bin = (Σ σ⁻²)^(-1/2)).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import UserError
from .instrument import Instrument

COLUMNS = ("wavelength", "depth", "error")
CONTEXT_KEYS = ("T_star", "gravity")


@dataclass(frozen=True)
class ObservedSpectrum:
    path: str
    wavelength_um: np.ndarray
    depth: np.ndarray
    error: np.ndarray
    context: dict[str, float]


def read_spectrum(path: str | Path) -> ObservedSpectrum:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"observed spectrum {path} does not exist; check components.spectral.observed")
    try:
        table, scale, meta = _read_table(path)
    except UserError:
        raise
    except Exception as exc:  # a parser's own error: not a table we can read
        raise UserError(f"cannot read the observed spectrum {path} as CSV/ECSV ({exc}); columns must be {', '.join(COLUMNS)}") from None
    missing = [c for c in COLUMNS if c not in table]
    if missing:
        raise UserError(f"observed spectrum {path} lacks the column(s) {missing}; columns must be {', '.join(COLUMNS)} (wavelength in µm)")
    import pandas as pd

    # text in a numeric column becomes NaN here and is reported with its row below
    wavelength, depth, error = (pd.to_numeric(pd.Series(np.asarray(table[c])), errors="coerce").to_numpy(np.float64) for c in COLUMNS)
    wavelength = wavelength * scale
    for name, values in zip(COLUMNS, (wavelength, depth, error)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise UserError(f"observed spectrum {path}: {name} is not a finite number in data row {bad[0] + 1} ({bad.size} rows); remove or fix those rows")
    step = np.flatnonzero(np.diff(wavelength) <= 0)
    if step.size:
        raise UserError(f"observed spectrum {path}: wavelengths must increase strictly, but row {step[0] + 2} ({wavelength[step[0] + 1]:g} µm) follows {wavelength[step[0]]:g} µm; sort the file and merge duplicates")
    negative = np.flatnonzero(error <= 0)
    if negative.size:
        raise UserError(f"observed spectrum {path}: error must be > 0, got {error[negative[0]]:g} in data row {negative[0] + 1}; give 1σ uncertainties")
    context = {}
    domain = context_domain()
    for key in CONTEXT_KEYS:
        try:
            context[key] = float(meta[key])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"observed spectrum {path} lacks a numeric {key!r}; add a header line '# {key}: <value>' (ECSV: a meta key)") from None
        lo, hi = domain[key]
        if not lo <= context[key] <= hi:
            raise UserError(f"observed spectrum {path}: {key} = {context[key]:g} is outside the range the model was trained on [{lo:g}, {hi:g}]; the retrieval would extrapolate")
    return ObservedSpectrum(str(path), wavelength, depth, error, context)


def context_domain() -> dict[str, tuple[float, float]]:
    """The universe's range of each context value (CLERO's core domain)."""
    from clero import CORE_DOMAIN

    return {key: tuple(map(float, CORE_DOMAIN[key])) for key in CONTEXT_KEYS}


def _read_table(path: Path):
    """(columns, wavelength scale to µm, header metadata)."""
    if path.suffix.lower() == ".ecsv":
        from astropy import units as u
        from astropy.table import Table

        table = Table.read(path, format="ascii.ecsv")
        unit = table["wavelength"].unit if "wavelength" in table.colnames else None
        try:
            scale = float((1.0 * unit).to(u.um).value) if unit is not None else 1.0
        except u.UnitConversionError:
            raise UserError(f"observed spectrum {path}: wavelength unit {unit} is not a length; use µm (or nm, Angstrom, m)") from None
        # masked (missing) cells become NaN, reported with their row below
        columns = {name: np.ma.filled(np.ma.asarray(table[name], dtype=np.float64), np.nan) if table[name].dtype.kind in "fiu" else np.asarray(table[name]) for name in table.colnames}
        return columns, scale, dict(table.meta)
    import pandas as pd

    meta = {}
    for line in path.read_text().splitlines():
        if line.startswith("#") and ":" in line:
            key, _, value = line[1:].partition(":")
            meta[key.strip()] = value.strip()
    return pd.read_csv(path, comment="#"), 1.0, meta


def bin_to_instrument(spectrum: ObservedSpectrum, instrument: Instrument) -> tuple[np.ndarray, np.ndarray]:
    """(depth, σ) on the instrument's bins; every bin must hold at least one observed point."""
    edges = instrument.edges
    lo, hi = spectrum.wavelength_um[0], spectrum.wavelength_um[-1]
    if hi < edges[0] or lo > edges[-1]:
        raise UserError(
            f"observed spectrum {spectrum.path} covers {lo:g}-{hi:g} µm, which does not overlap the model's "
            f"{edges[0]:g}-{edges[-1]:g} µm ({instrument.name}); train with an instrument matching the observation (components.spectral.instrument)"
        )
    which = np.searchsorted(edges, spectrum.wavelength_um, side="right") - 1
    inside = (which >= 0) & (which < len(edges) - 1)
    weights = np.bincount(which[inside], weights=spectrum.error[inside] ** -2.0, minlength=len(edges) - 1)
    empty = np.flatnonzero(weights == 0)
    if empty.size:
        centre = instrument.wavelength[empty[0]]
        raise UserError(
            f"observed spectrum {spectrum.path} leaves {empty.size} of the model's {len(weights)} bins empty (first at {centre:.3g} µm): "
            f"it must cover {edges[0]:g}-{edges[-1]:g} µm at resolving power >= {instrument.resolution:g}; "
            "train with an instrument matching the observation (components.spectral.instrument)"
        )
    depth = np.bincount(which[inside], weights=spectrum.depth[inside] * spectrum.error[inside] ** -2.0, minlength=len(weights)) / weights
    sigma = weights**-0.5
    typical = float(np.median(sigma)) * 1e6
    if not 0.5 <= typical / max(instrument.noise_ppm, 1e-12) <= 2.0:
        raise UserError(
            f"observed spectrum {spectrum.path} has a typical error of {typical:.3g} ppm per bin, but the model is trained at "
            f"{instrument.noise_ppm:g} ppm ({instrument.name}), so its uncertainties would not apply; set "
            f"components.spectral.instruments.{instrument.name}.noise_ppm={typical:.3g} and retrain"
        )
    return depth, sigma


def check_observed_files(paths: list[str], instrument: Instrument) -> list[tuple[np.ndarray, np.ndarray]]:
    """Read, check and bin every observed file (raising on the first bad one)."""
    return [bin_to_instrument(read_spectrum(p), instrument) for p in paths]
