"""Ingest GCM output (NetCDF or Zarr) into astrotrain's field names, units and datacube layout.

A YAML mapping (`config/gcm_mappings/*.yaml`) names the file's variables and dims; `open_gcm` opens
the file lazily (dask), renames, converts units with pint and orders dims ([time], [level], lat, lon);
`write_datacube` writes it in the layout of a universe's `climate.zarr` plus a `manifest.json`.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import ValidationError, field_validator, model_validator

from ..config.base import Section
from ..errors import UserError
from ..universe.store import CLIMATE_STORE, FIELD_UNITS, LEVEL_FIELDS, MANIFEST_FILE

if TYPE_CHECKING:
    import xarray as xr

FieldName = Literal[tuple(FIELD_UNITS)]  # one of the 8 astrotrain fields
DIM_ORDER = ("time", "level", "lat", "lon")
COORD_UNITS = {"lat": "degrees_north", "lon": "degrees_east"}
NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf")


@functools.cache
def unit_registry():
    """A pint registry that also reads UDUNITS exponents (`W m-2`, `m2`) and CESM's `fraction`."""
    import pint

    def udunits_exponents(text: str) -> str:  # "W m-2" → "W m**-2"; "1" and "degC" are untouched
        return re.sub(r"(?<=[A-Za-z])(?=-?\d)", "**", text)

    registry = pint.UnitRegistry(preprocessors=[udunits_exponents])
    registry.define("fraction = 1")
    return registry


class GcmVariable(Section):
    name: str  # variable name in the file
    units: str | None = None  # source units, used where the file's variable has no (or an unusable) `units` attribute

    @field_validator("units")
    @classmethod
    def _parseable(cls, units: str | None) -> str | None:
        if units is not None:
            try:
                unit_registry().Unit(units)
            except Exception:
                raise ValueError(f"units {units!r} are not understood by pint (e.g. K, degC, W m-2, m/s, kg/kg, 1)") from None
        return units


class GcmDims(Section):
    lat: str  # file dim name of latitude
    lon: str  # file dim name of longitude
    level: str | None = None  # needed when a level field is mapped
    time: str | None = None


class GcmMapping(Section):
    """How one GCM's output maps onto astrotrain's fields."""

    model: str
    dims: GcmDims
    variables: dict[FieldName, GcmVariable]

    @model_validator(mode="after")
    def _consistent(self):
        if not self.variables:
            raise ValueError("variables is empty; map at least one of " + ", ".join(FIELD_UNITS))
        level_fields = sorted(set(self.variables) & set(LEVEL_FIELDS))
        if level_fields and self.dims.level is None:
            raise ValueError(f"level fields {level_fields} are mapped but dims.level is not set; name the file's level dim")
        return self


def load_mapping(path: str | Path) -> GcmMapping:
    """Read and validate a mapping YAML; every problem is reported in one UserError."""
    import yaml

    from ..config.loader import load_yaml_text

    path = Path(path)
    if not path.is_file():
        raise UserError(f"GCM mapping {path} not found; see config/gcm_mappings/ for examples")
    try:
        tree = load_yaml_text(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"GCM mapping {path} is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        return GcmMapping.model_validate(tree if tree is not None else {})
    except ValidationError as exc:
        lines = [_format_error(err) for err in exc.errors()]
        raise UserError(f"GCM mapping {path}: {len(lines)} error(s):\n" + "\n".join(f"  - {line}" for line in lines)) from None


def _format_error(err: dict) -> str:
    loc = [str(part) for part in err["loc"] if part != "[key]"]
    key = ".".join(loc)
    if err["loc"][-1:] == ("[key]",):
        return f"{key}: unknown astrotrain field; known: {', '.join(FIELD_UNITS)}"
    if err["type"] == "extra_forbidden":
        model = {"dims": GcmDims, "variables": GcmVariable}.get(loc[0], GcmMapping) if len(loc) > 1 else GcmMapping
        hint = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1, cutoff=0.5)
        known = f"did you mean {hint[0]!r}?" if hint else f"known keys here: {', '.join(model.model_fields)}"
        return f"{key}: unknown key; {known}"
    message = err["msg"].removeprefix("Value error, ")
    return f"{key}: {message}" if loc else message


def open_gcm(path: str | Path, mapping: GcmMapping) -> xr.Dataset:
    """Open GCM output lazily as astrotrain fields: renamed, in astrotrain units, float32, dims ([time], [level], lat, lon)."""
    import xarray as xr

    path = Path(path)
    raw = _open_raw(path)
    file_dims = {ours: theirs for ours, theirs in mapping.dims.model_dump().items() if theirs is not None}
    fields = {}
    for field, var in mapping.variables.items():
        if var.name not in raw.data_vars:
            raise UserError(
                f"{path.name}: variable {var.name!r} (mapped to {field}) is not in the file {path}; "
                f"it has: {', '.join(sorted(map(str, raw.data_vars)))}. Fix variables.{field}.name in the mapping"
            )
        da = raw[var.name]
        wanted = [d for d in DIM_ORDER if d in file_dims and (d != "level" or field in LEVEL_FIELDS)]
        for dim in wanted:
            if file_dims[dim] not in da.dims:
                what = f"level field {field}" if dim == "level" else field
                raise UserError(
                    f"{path.name}: variable {var.name!r} ({what}) has dims {da.dims}, without dims.{dim} = "
                    f"{file_dims[dim]!r}; fix dims.{dim} in the mapping or map a variable that has it ({path})"
                )
        extra = [d for d in da.dims if d not in {file_dims[w] for w in wanted}]
        if extra:
            raise UserError(
                f"{path.name}: variable {var.name!r} ({field}) has dims {list(extra)} that the mapping does not use; "
                f"map them under dims (time, level) or map another variable ({path})"
            )
        da = da.drop_vars([c for c in da.coords if c not in da.dims])
        da = da.rename({file_dims[w]: w for w in wanted if file_dims[w] != w})
        fields[field] = _to_astrotrain_units(da.transpose(*wanted), field, var, path)
    ds = xr.Dataset(fields)
    for dim in ds.dims:
        if dim not in ds.coords:
            ds = ds.assign_coords({dim: np.arange(ds.sizes[dim])})
        if dim in COORD_UNITS:
            ds[dim].attrs = {"units": COORD_UNITS[dim]}
    ds.attrs = {"source": str(path), "gcm_model": mapping.model, "gcm_mapping": mapping.model_dump_json()}
    return ds


def _open_raw(path: Path):
    """The file as a lazy xarray Dataset, or a UserError saying why it cannot be read."""
    import xarray as xr

    if not path.exists():
        raise UserError(f"GCM output {path.name} not found at {path}; check the path")
    is_zarr = path.suffix == ".zarr" and path.is_dir()
    if not is_zarr and path.suffix not in NETCDF_SUFFIXES:
        raise UserError(f"GCM output {path}: expected a NetCDF file (.nc) or a Zarr store (.zarr directory)")
    kind = "Zarr" if is_zarr else "NetCDF"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # zarr without consolidated metadata
            if is_zarr:
                raw = xr.open_dataset(path, engine="zarr", chunks={}, consolidated=None)
            else:
                raw = xr.open_dataset(path, engine="netcdf4", chunks={})
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise UserError(
            f"GCM output {path.name} could not be read as {kind} ({type(exc).__name__}: {exc}); "
            f"is it complete and not corrupt? ({path})"
        ) from None
    if not is_zarr:
        _check_classic_size(path, raw)
    return raw


def _check_classic_size(path: Path, raw) -> None:
    """netCDF-C reads a truncated classic (CDF1/2/5) file as zeros; its data must fit in the file."""
    with open(path, "rb") as handle:
        if handle.read(3) != b"CDF":
            return
    need = sum(v.size * np.dtype(v.encoding.get("dtype", v.dtype)).itemsize for v in raw.variables.values())
    size = path.stat().st_size
    if size < need:
        raise UserError(
            f"GCM output {path.name} could not be read as NetCDF: it is truncated "
            f"({size} bytes, its variables need {need}); copy or write it again ({path})"
        )


def _to_astrotrain_units(da, field: str, var: GcmVariable, path: Path):
    """Convert one variable to FIELD_UNITS[field] with pint (in float64), returned as float32."""
    import pint

    registry = unit_registry()
    # the file's own attribute first; the mapping's declared units where the file has none, or
    # where the file's spelling is wrong (e.g. ModelE's "C", which pint reads as coulomb)
    candidates = [u for u in dict.fromkeys([da.attrs.get("units") or None, var.units]) if u]
    if not candidates:
        raise UserError(
            f"{path.name}: variable {var.name!r} ({field}) has no units attribute and the mapping declares none; "
            f"set variables.{field}.units (astrotrain wants {FIELD_UNITS[field]!r}) ({path})"
        )
    target = FIELD_UNITS[field]
    first_error = None
    for source in candidates:
        try:
            values = registry.Quantity(da.data.astype(np.float64), str(source)).to(target).magnitude
            break
        except pint.DimensionalityError as exc:
            first_error = first_error or UserError(
                f"{path.name}: variable {var.name!r} ({field}) has incompatible units: expected {target!r} "
                f"({exc.dim2}), found {source!r} ({exc.dim1}) ({path})"
            )
        except (pint.errors.PintError, ValueError, TypeError, AttributeError) as exc:
            first_error = first_error or UserError(
                f"{path.name}: units {source!r} of variable {var.name!r} ({field}) are not understood ({exc}); "
                f"declare them as variables.{field}.units in the mapping, in pint's spelling ({path})"
            )
    else:
        raise first_error
    out = da.copy(data=values.astype(np.float32))
    out.attrs, out.encoding = {"units": target}, {}
    return out


def write_datacube(ds: xr.Dataset, out_dir: str | Path, planet_id: int = 0, source: str | Path | None = None) -> Path:
    """Write `ds` (from `open_gcm`) as `out_dir/climate.zarr` (universe layout, one planet) plus `manifest.json`.

    `source` defaults to the path `open_gcm` recorded; its bytes are hashed into the manifest. The directory
    is built under a temporary name and appears only once complete.
    """
    from ..fsutil import atomic_directory, atomic_write_json
    from ..hashing import sha256_file, sha256_json, sha256_tree

    out_dir = Path(out_dir)
    unknown = [name for name in ds.data_vars if name not in FIELD_UNITS]
    if unknown:
        raise UserError(f"cannot write datacube {out_dir}: variables {unknown} are not astrotrain fields {list(FIELD_UNITS)}")
    source = source if source is not None else ds.attrs.get("source")
    if not source or not Path(source).exists():
        raise UserError(f"cannot write datacube {out_dir}: source {source!r} not found; pass source=<the GCM file read>")
    source = Path(source)
    mapping = json.loads(ds.attrs["gcm_mapping"]) if "gcm_mapping" in ds.attrs else None

    cube = ds.expand_dims(planet=np.array([planet_id], dtype=np.int64))
    cube = cube.transpose("planet", *[d for d in DIM_ORDER if d in cube.dims])
    cube = cube.chunk({dim: 1 if dim in ("planet", "time") else -1 for dim in cube.dims})  # one chunk per planet and step
    for name in list(cube.data_vars):
        cube[name] = cube[name].astype(np.float32).assign_attrs(units=FIELD_UNITS[name])
    for variable in cube.variables.values():
        variable.encoding = {}
    cube.attrs = {}

    with atomic_directory(out_dir) as tmp:
        cube.to_zarr(tmp / CLIMATE_STORE, zarr_format=3, consolidated=False, mode="w")
        manifest = {
            "kind": "astrotrain.gcm_datacube",
            "source": str(source.resolve()),
            "source_sha256": sha256_tree(source) if source.is_dir() else sha256_file(source),
            "model": ds.attrs.get("gcm_model"),
            "mapping": mapping,
            "planet_id": int(planet_id),
            "variables": {name: {"units": FIELD_UNITS[name], "dims": list(cube[name].dims)} for name in cube.data_vars},
            "dims": {str(dim): int(size) for dim, size in cube.sizes.items()},
            "files": {CLIMATE_STORE: sha256_tree(tmp / CLIMATE_STORE)},
        }
        manifest["sha256"] = sha256_json(manifest["files"])
        atomic_write_json(tmp / MANIFEST_FILE, manifest)
    return out_dir


RANGE_CHECKS = {  # field → (check name, bad-value mask, what is allowed)
    "surface_temperature": ("range", lambda x: (x <= 50) | (x >= 1000), "50 K < T < 1000 K"),
    "temperature": ("range", lambda x: (x <= 50) | (x >= 1000), "50 K < T < 1000 K"),
    "specific_humidity": ("negative", lambda x: x < 0, "specific_humidity >= 0"),
    "cloud_fraction": ("range", lambda x: (x < 0) | (x > 1), "0 <= cloud_fraction <= 1"),
    "asr": ("negative", lambda x: x < 0, "asr >= 0 W m-2"),
    "olr": ("negative", lambda x: x < 0, "olr >= 0 W m-2"),
}


def check_values(ds: xr.Dataset) -> list[dict]:
    """NaN/inf and physical-range problems, one `{variable, check, count, detail}` record per problem.

    Range checks assume astrotrain units (as `open_gcm` returns). Reductions run in one dask compute.
    """
    import dask

    lazy = {}
    for name, da in ds.data_vars.items():
        lazy[(name, "nan")] = da.isnull().sum()
        lazy[(name, "inf")] = np.isinf(da).sum()
        if name in RANGE_CHECKS:
            bad = RANGE_CHECKS[name][1](da) & np.isfinite(da)  # NaN/inf are counted once, above
            lazy[(name, "range")] = bad.sum()
            lazy[(name, "min")] = da.where(bad).min()
            lazy[(name, "max")] = da.where(bad).max()
    counts = dict(zip(lazy, (value.item() for value in dask.compute(*lazy.values()))))
    problems = []
    for name in ds.data_vars:
        nan, inf = int(counts[(name, "nan")]), int(counts[(name, "inf")])
        if nan or inf:
            problems.append({"variable": name, "check": "non_finite", "count": nan + inf, "detail": f"{nan} NaN, {inf} inf"})
        if name in RANGE_CHECKS and counts[(name, "range")]:
            check, _, allowed = RANGE_CHECKS[name]
            low, high = counts[(name, "min")], counts[(name, "max")]
            detail = f"expected {allowed}; offending values span {low:g} .. {high:g} {FIELD_UNITS[name]}"
            problems.append({"variable": name, "check": check, "count": int(counts[(name, "range")]), "detail": detail})
    return problems
