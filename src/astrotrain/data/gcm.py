"""Ingest GCM output (NetCDF or Zarr; one file or many) into astrotrain's field names, units and levels.

A YAML mapping (`config/gcm_mappings/*.yaml`) names the file's variables, dims and vertical
coordinate — or, with no mapping, the file's CF `standard_name`s say it (`gcm_files.standard_name_mapping`).
`open_gcm` opens the output lazily (dask), selects the time samples (`gcm_files.select_times`),
renames, converts units with pint, computes every column's real level pressures and interpolates the
level fields onto the common target levels (`vertical.py`), and orders dims ([time], [level], lat, lon);
`gcm_write.write_datacube` writes it in the layout of a universe's `climate.zarr` plus a `manifest.json`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import ValidationError, field_validator, model_validator

from ..config.base import Section
from ..config.loader import load_yaml_text
from ..errors import UserError
from ..units import unit_registry
from ..universe.sampling import PARAMETER_NAMES
from ..universe.store import FIELD_UNITS, LEVEL_FIELDS
from .gcm_files import TimeMode, open_raw, select_times, source_files, standard_name_mapping
from .vertical import TargetLevels, VerticalCoordinate, infer_coordinate, level_pressure, to_target_levels

if TYPE_CHECKING:
    import xarray as xr

FieldName = Literal[tuple(FIELD_UNITS)]  # one of the 8 astrotrain fields
DIM_ORDER = ("time", "level", "lat", "lon")
COORD_UNITS = {"lat": "degrees_north", "lon": "degrees_east"}


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
    vertical: VerticalCoordinate | None = None  # null: the level coordinate's own CF attributes say it
    area_weights: str | None = None  # a variable of cell-area weights (CAM's latitude weights gw); null: from the latitudes

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


def open_gcm(path: str | Path | list, mapping: GcmMapping | None = None, levels: TargetLevels | None = None,
             skip_years: int = 0, time: TimeMode = "samples") -> xr.Dataset:
    """Open GCM output lazily as astrotrain fields: renamed, in astrotrain units, float32, level fields on the
    target levels, dims ([time], [level], lat, lon), plus `surface_pressure` (Pa) where the file has it.
    `path`: a file, a Zarr store, a glob or a list of files of one run."""
    import xarray as xr

    paths = source_files(path) if not isinstance(path, list) else [Path(p) for p in path]
    raw = open_raw(paths)
    label = paths[0].name if len(paths) == 1 else f"{len(paths)} files of {paths[0].parent}"
    mapping = mapping or GcmMapping.model_validate(standard_name_mapping(raw))
    file_dims = {ours: theirs for ours, theirs in mapping.dims.model_dump().items() if theirs is not None}
    raw, time_record = select_times(raw, file_dims.get("time"), skip_years, time)
    if time == "mean":
        file_dims.pop("time", None)  # averaged away
    level_fields = [f for f in mapping.variables if f in LEVEL_FIELDS]
    vertical, p_source, ps = None, None, None
    if level_fields or (mapping.vertical is not None and mapping.vertical.ps):
        vertical = mapping.vertical or infer_coordinate(raw, file_dims["level"])
        lead = tuple(file_dims[d] for d in ("time",) if d in file_dims)
        if vertical.ps is not None:
            ps = _surface_pressure(raw, vertical.ps, file_dims, label)
        if level_fields:
            p_source = level_pressure(raw, vertical, file_dims["level"], lead)
            p_source = _standard_dims(p_source, file_dims, keep_level=True)
    levels = levels or TargetLevels()
    fields, counts = {}, {}
    for field, var in mapping.variables.items():
        da = _field(raw, field, var, file_dims, label)
        if field in LEVEL_FIELDS:
            da, counts[field] = to_target_levels(da, p_source, levels, ps, "level_src")
        fields[field] = da
    if ps is not None:
        fields["surface_pressure"] = ps
    ds = xr.Dataset(fields)
    for dim in ds.dims:
        if dim not in ds.coords:
            ds = ds.assign_coords({dim: np.arange(ds.sizes[dim])})
        if dim in COORD_UNITS:
            ds[dim].attrs = {"units": COORD_UNITS[dim]}
    if "level" in ds.dims:
        ds["level"].attrs = {"level_kind": levels.kind, "units": "1" if levels.kind == "sigma" else "Pa"}
    weights = raw[mapping.area_weights] if mapping.area_weights and mapping.area_weights in raw.variables else None

    parameters = {n: float(raw.attrs[n]) for n in PARAMETER_NAMES if n in raw.attrs}
    ds.attrs = {"source": str(paths[0]) if len(paths) == 1 else str(path), "sources": [str(p) for p in paths], "gcm_model": mapping.model,
                "gcm_mapping": mapping.model_dump_json(), "time": time_record,
                "vertical": {"source": vertical.model_dump() if vertical else None, "target": {"kind": levels.kind, "levels": levels.resolved().tolist()}
                             if level_fields else None, "method": "linear in ln p, per column; nearest level outside a column's range"},
                "interpolation_counts": counts, "latitude_weights": None if weights is None else weights.values,
                "planet_parameters": parameters if len(parameters) == len(PARAMETER_NAMES) else None}
    return ds


def _field(raw, field: str, var: GcmVariable, file_dims: dict, label: str):
    """One mapped variable: checked dims, renamed to astrotrain's (the level dim as `level_src`), in astrotrain units."""
    if var.name not in raw.data_vars:
        raise UserError(f"{label}: variable {var.name!r} (mapped to {field}) is not in the file; it has: "
                        f"{', '.join(sorted(map(str, raw.data_vars)))}. Fix variables.{field}.name in the mapping")
    da = raw[var.name]
    wanted = [d for d in DIM_ORDER if d in file_dims and (d != "level" or field in LEVEL_FIELDS)]
    for dim in wanted:
        if file_dims[dim] not in da.dims:
            what = f"level field {field}" if dim == "level" else field
            raise UserError(f"{label}: variable {var.name!r} ({what}) has dims {da.dims}, without dims.{dim} = {file_dims[dim]!r}; "
                            f"fix dims.{dim} in the mapping or map a variable that has it")
    extra = [d for d in da.dims if d not in {file_dims[w] for w in wanted}]
    if extra:
        raise UserError(f"{label}: variable {var.name!r} ({field}) has dims {list(extra)} that the mapping does not use; "
                        "map them under dims (time, level) or map another variable")
    da = _standard_dims(da.drop_vars([c for c in da.coords if c not in da.dims]), file_dims, keep_level=field in LEVEL_FIELDS)
    return _to_astrotrain_units(da, field, var, label)


def _standard_dims(da, file_dims: dict, keep_level: bool):
    """Rename the file's dims to astrotrain's (the level dim to `level_src`, interpolated later) and order them."""
    names = {file_dims[d]: ("level_src" if d == "level" else d) for d in file_dims if file_dims[d] in da.dims and (d != "level" or keep_level)}
    da = da.rename({k: v for k, v in names.items() if k != v})
    order = [d for d in ("time", "level_src", "lat", "lon") if d in da.dims]
    return da.transpose(*order, ...)


def _surface_pressure(raw, name: str, file_dims: dict, label: str):
    if name not in raw.variables:
        raise UserError(f"{label}: the surface-pressure variable {name!r} (vertical.ps) is not in the file; fix the mapping")
    ps = _standard_dims(raw[name], file_dims, keep_level=False)
    units = raw[name].attrs.get("units") or "Pa"
    out = ps.astype(np.float64) * unit_registry().Quantity(1.0, units).to("Pa").magnitude
    return out.astype(np.float32).assign_attrs(units="Pa")


def _to_astrotrain_units(da, field: str, var: GcmVariable, label: str):
    """Convert one variable to FIELD_UNITS[field] with pint (in float64), returned as float32."""
    import pint

    registry = unit_registry()
    # the file's own attribute first; the mapping's declared units where the file has none, or
    # where the file's spelling is wrong (e.g. ModelE's "C", which pint reads as coulomb)
    candidates = [u for u in dict.fromkeys([da.attrs.get("units") or None, var.units]) if u]
    if not candidates:
        raise UserError(
            f"{label}: variable {var.name!r} ({field}) has no units attribute and the mapping declares none; "
            f"set variables.{field}.units (astrotrain wants {FIELD_UNITS[field]!r})"
        )
    target = FIELD_UNITS[field]
    first_error = None
    for source in candidates:
        try:
            values = registry.Quantity(da.data.astype(np.float64), str(source)).to(target).magnitude
            break
        except pint.DimensionalityError as exc:
            first_error = first_error or UserError(
                f"{label}: variable {var.name!r} ({field}) has incompatible units: expected {target!r} "
                f"({exc.dim2}), found {source!r} ({exc.dim1})"
            )
        except (pint.errors.PintError, ValueError, TypeError, AttributeError) as exc:
            first_error = first_error or UserError(
                f"{label}: units {source!r} of variable {var.name!r} ({field}) are not understood ({exc}); "
                f"declare them as variables.{field}.units in the mapping, in pint's spelling"
            )
    else:
        raise first_error
    out = da.copy(data=values.astype(np.float32))
    out.attrs, out.encoding = {"units": target}, {}
    return out


