"""Reading GCM output files: one NetCDF file, a Zarr store, or many files of one run (a glob), with
their calendars; choosing the time samples; recognising CF standard names.

Many files (`case/*.cam.h0.*.nc`) are opened together with `xarray.open_mfdataset` (combined by
their coordinates: consecutive months, or surface and level diagnostics of the same years). Times
are decoded as cftime dates, so `noleap`, `360_day` and `proleptic_gregorian` calendars all work.
`skip_years` drops the spin-up (the first N model years); `time` keeps the samples (e.g. monthly
means), or averages them into one climatology (`mean`) or into a mean annual cycle (`monthly`).
"""

from __future__ import annotations

import glob
import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import UserError

NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf")
TimeMode = Literal["samples", "mean", "monthly"]
STANDARD_NAMES = {  # astrotrain field → CF standard names that mean it (automatic mapping)
    "surface_temperature": ("surface_temperature",),
    "asr": ("toa_net_downward_shortwave_flux", "toa_net_incoming_shortwave_flux"),
    "olr": ("toa_outgoing_longwave_flux",),
    "temperature": ("air_temperature",),
    "specific_humidity": ("specific_humidity",),
    "cloud_fraction": ("cloud_area_fraction_in_atmosphere_layer",),
    "u": ("eastward_wind",),
    "v": ("northward_wind",),
}
SURFACE_PRESSURE_NAMES = ("surface_air_pressure",)


def source_files(path: str | Path) -> list[Path]:
    """The files a path names: itself, or every match of a glob (sorted); a UserError when there are none."""
    text = str(path)
    if any(c in text for c in "*?["):
        files = sorted(Path(p) for p in glob.glob(text))
        if not files:
            raise UserError(f"GCM output {text}: the pattern matches no file; check the path (quote it so the shell does not expand it)")
        return files
    return [Path(text)]


def open_raw(paths: list[Path]):
    """The file(s) as one lazy xarray Dataset with cftime times, or a UserError saying why they cannot be read."""
    import xarray as xr

    for path in paths:
        if not path.exists():
            raise UserError(f"GCM output {path.name} not found at {path}; check the path")
        is_zarr = path.suffix == ".zarr" and path.is_dir()
        if not is_zarr and path.suffix not in NETCDF_SUFFIXES:
            raise UserError(f"GCM output {path}: expected NetCDF files (.nc) or a Zarr store (.zarr directory)")
    times = xr.coders.CFDatetimeCoder(use_cftime=True)
    kind = "Zarr" if paths[0].suffix == ".zarr" else "NetCDF"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # zarr without consolidated metadata
            if len(paths) > 1:
                raw = xr.open_mfdataset([str(p) for p in paths], engine="netcdf4", combine="by_coords", decode_times=times,
                                        chunks={}, data_vars="minimal", coords="minimal", compat="override", join="exact")
            elif kind == "Zarr":
                raw = xr.open_dataset(paths[0], engine="zarr", chunks={}, consolidated=None, decode_times=times)
            else:
                raw = xr.open_dataset(paths[0], engine="netcdf4", chunks={}, decode_times=times)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        which = paths[0] if len(paths) == 1 else f"{len(paths)} files ({paths[0].name} …)"
        raise UserError(f"GCM output {which} could not be read as {kind} ({type(exc).__name__}: {exc}); "
                        "is every file complete, not corrupt, and of one run (the same grid)?") from None
    if kind == "NetCDF":
        for path in paths:
            check_classic_size(path)
    return raw


def check_classic_size(path: Path) -> None:
    """netCDF-C reads a truncated classic (CDF1/2/5) file as zeros; its data must fit in the file."""
    import xarray as xr

    with open(path, "rb") as handle:
        if handle.read(3) != b"CDF":
            return
    with xr.open_dataset(path, engine="netcdf4", decode_times=False, chunks={}) as raw:
        need = sum(v.size * np.dtype(v.encoding.get("dtype", v.dtype)).itemsize for v in raw.variables.values())
    size = path.stat().st_size
    if size < need:
        raise UserError(f"GCM output {path.name} could not be read as NetCDF: it is truncated "
                        f"({size} bytes, its variables need {need}); copy or write it again ({path})")


def select_times(ds, time_dim: str | None, skip_years: int, mode: TimeMode):
    """Drop the first `skip_years` model years, then keep the samples or average them (module docstring)."""
    if time_dim is None or time_dim not in ds.dims:
        if skip_years or mode != "samples":
            raise UserError(f"--skip-years / --time {mode} need a time axis, and the mapping names none (dims.time) or the file has none")
        return ds, {}
    times = ds[time_dim].values
    years = np.array([getattr(t, "year", None) for t in times])
    dated = bool(years.size) and years[0] is not None
    if (skip_years or mode == "monthly") and not dated:
        raise UserError(f"the time axis {time_dim!r} is not made of dates (no CF units like 'days since …'); --skip-years and "
                        "--time monthly need dates")
    record = {"calendar": getattr(times[0], "calendar", None) if dated else None, "samples_in_file": int(times.size)}
    if skip_years:
        keep = years >= years.min() + skip_years
        if not keep.any():
            raise UserError(f"--skip-years {skip_years} drops every sample: the run covers {years.min()}–{years.max()}")
        ds = ds.isel({time_dim: np.flatnonzero(keep)})
        record["skipped_years"] = int(skip_years)
    if mode == "mean":
        ds = ds.mean(time_dim, keep_attrs=True)
    elif mode == "monthly":
        ds = ds.groupby(f"{time_dim}.month").mean(keep_attrs=True).rename({"month": time_dim})
    kept = ds[time_dim].values if time_dim in ds.dims else []
    record.update({"mode": mode, "samples_kept": int(len(kept)) if mode != "mean" else 1,
                   "first": str(kept[0]) if mode == "samples" and len(kept) else None, "last": str(kept[-1]) if mode == "samples" and len(kept) else None})
    return ds, record


def standard_name_mapping(raw) -> dict:
    """A mapping tree made from CF attributes alone: variables by `standard_name`, dims by the coordinates'
    `axis` / `standard_name`; a UserError listing what is missing when the file does not say enough."""
    by_name = {}
    for name, var in raw.data_vars.items():
        by_name.setdefault(var.attrs.get("standard_name"), name)
    variables = {field: {"name": by_name[n]} for field, names in STANDARD_NAMES.items() for n in names if n in by_name}
    dims = {}
    for dim in raw.dims:
        attrs = raw[dim].attrs if dim in raw.variables else {}
        axis, standard = attrs.get("axis", ""), attrs.get("standard_name", "")
        if axis == "Y" or standard == "latitude":
            dims["lat"] = dim
        elif axis == "X" or standard == "longitude":
            dims["lon"] = dim
        elif axis == "T" or standard == "time":
            dims["time"] = dim
        elif axis == "Z" or "atmosphere" in standard or standard == "air_pressure":
            dims["level"] = dim
    missing = [d for d in ("lat", "lon") if d not in dims] + ([] if variables else ["any variable with a known standard_name"])
    if missing:
        raise UserError(f"no --mapping given and the file's CF attributes do not say enough: missing {', '.join(missing)}; "
                        f"write a mapping (config/gcm_mappings/) or add standard_name/axis attributes (known: "
                        f"{', '.join(n for names in STANDARD_NAMES.values() for n in names)})")
    return {"model": raw.attrs.get("source", raw.attrs.get("model", "CF")), "dims": dims, "variables": variables}
