"""Vertical coordinates of GCM output, and their interpolation onto one common set of levels.

The real pressure of each level of each column, by the coordinate's kind (CF conventions, appendix D):

* ``hybrid`` — atmosphere_hybrid_sigma_pressure_coordinate (CAM, ExoCAM):
  p(k, j, i) = a(k)·p0 + b(k)·ps(j, i), or ap(k) + b(k)·ps(j, i) (the CMIP form, `ap` in Pa);
* ``sigma`` — atmosphere_sigma_coordinate (ExoPlaSim; ModelE/ROCKE-3D below its fixed-pressure top):
  p(k, j, i) = ptop + σ(k)·(ps(j, i) − ptop), ptop = 0 unless given;
* ``pressure`` — pressure levels (postprocessed output): p(k).

A mapping names the file's variables for the terms (`vertical:` in the mapping YAML), or the level
coordinate says so itself (its `standard_name` and `formula_terms` attributes, as CAM writes them).

Every run is then interpolated onto common target levels, so that runs with different surface
pressures share levels: ``sigma`` levels (p / ps: every column keeps every level; the default is
CLERO's ten levels at 1 bar, so ingested cubes line up with the universe) or ``pressure`` levels (Pa;
a column's levels below its surface are filled with its lowest level's value and counted).
Interpolation is linear in ln p between the two source levels that bracket the target, per column;
a target outside a column's source range takes the nearest level's value (counted as extrapolated).
The method, the levels and both counts go into the datacube's manifest.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from ..config.base import Section
from ..errors import UserError
from ..units import unit_registry

Kind = Literal["hybrid", "sigma", "pressure"]
STANDARD_NAMES = {"atmosphere_hybrid_sigma_pressure_coordinate": "hybrid", "atmosphere_sigma_coordinate": "sigma", "air_pressure": "pressure"}


class VerticalCoordinate(Section):
    """The file's vertical coordinate: its kind and the variables of its formula terms."""

    kind: Kind = Field(description="hybrid (a·p0 + b·ps), sigma (ptop + σ (ps − ptop)) or pressure levels")
    a: str | None = Field(None, description="hybrid: variable of the a coefficients (× p0)")
    ap: str | None = Field(None, description="hybrid: variable of the ap coefficients (Pa), instead of a and p0")
    b: str | None = Field(None, description="hybrid: variable of the b coefficients (× ps)")
    p0: str | float | None = Field(None, description="hybrid: variable (or value, Pa) of the reference pressure")
    sigma: str | None = Field(None, description="sigma: variable of σ (default: the level coordinate itself)")
    ptop: str | float | None = Field(None, description="sigma: variable (or value, Pa) of the model top; default 0")
    ps: str | None = Field(None, description="hybrid, sigma: variable of the surface pressure")

    @model_validator(mode="after")
    def _terms(self):
        need = {"hybrid": ("b", "ps"), "sigma": ("ps",), "pressure": ()}[self.kind]
        missing = [t for t in need if getattr(self, t) is None]
        if self.kind == "hybrid" and self.ap is None and (self.a is None or self.p0 is None):
            missing.append("a and p0 (or ap)")
        if missing:
            raise ValueError(f"a {self.kind} coordinate needs {', '.join(missing)}")
        return self


class TargetLevels(Section):
    """The common levels every ingested run is interpolated onto."""

    kind: Literal["sigma", "pressure"] = Field("sigma", description="sigma (p / ps) or pressure (Pa) levels")
    values: list[float] = Field(default_factory=list, description="levels, bottom up; empty = CLERO's ten at 1 bar (sigma) ")

    @model_validator(mode="after")
    def _monotonic(self):
        v = self.values
        if v and (len(set(v)) != len(v) or any(b >= a for a, b in zip(v, v[1:])) or min(v) <= 0):
            raise ValueError(f"target levels must be positive and decrease upward (bottom first), got {v}")
        if self.kind == "sigma" and v and max(v) > 1:
            raise ValueError(f"sigma levels are p / ps, at most 1; got {max(v)}")
        return self

    def resolved(self) -> np.ndarray:
        if self.values:
            return np.asarray(self.values, dtype=np.float64)
        if self.kind == "pressure":
            raise UserError("pressure target levels need values (Pa, bottom first), e.g. --levels pressure:90000,70000,50000,30000,10000")
        from clero.climate_analysis import pressure_levels

        return pressure_levels(1.0) / 1e5  # CLERO's levels at 1 bar, as σ


def parse_target_levels(text: str | None) -> TargetLevels:
    """`sigma`, `sigma:0.95,0.8,…` or `pressure:90000,…` (Pa) → TargetLevels (the CLI's --levels)."""
    if not text:
        return TargetLevels()
    kind, _, values = text.partition(":")
    try:
        return TargetLevels(kind=kind.strip(), values=[float(v) for v in values.split(",") if v.strip()])
    except (ValueError, TypeError) as exc:
        raise UserError(f"--levels {text!r}: {exc}; write sigma, sigma:0.95,0.8,… or pressure:90000,70000,… (Pa, bottom first)") from None


def infer_coordinate(raw, level_dim: str) -> VerticalCoordinate:
    """The coordinate a file's level variable declares (CF `standard_name` + `formula_terms`), or pressure
    levels where its units are a pressure; otherwise a UserError asking for `vertical:` in the mapping."""
    coord = raw[level_dim] if level_dim in raw.variables else None
    attrs = dict(coord.attrs) if coord is not None else {}
    kind = STANDARD_NAMES.get(attrs.get("standard_name", ""))
    if kind in ("hybrid", "sigma") and "formula_terms" in attrs:
        terms = dict(zip(*[iter(attrs["formula_terms"].replace(":", " ").split())] * 2))
        return VerticalCoordinate(kind=kind, **{k: v for k, v in terms.items() if k in ("a", "ap", "b", "p0", "ps", "sigma", "ptop")})
    units = attrs.get("units", "")
    try:
        is_pressure = bool(units) and unit_registry().Unit(units).dimensionality == unit_registry().Unit("Pa").dimensionality
    except Exception:  # unparseable units: not a pressure
        is_pressure = False
    if kind == "pressure" or is_pressure:
        return VerticalCoordinate(kind="pressure")
    raise UserError(f"the level coordinate {level_dim!r} declares no vertical coordinate (no CF standard_name/formula_terms, units "
                    f"{units!r} are not a pressure); set `vertical:` in the mapping (kind: hybrid | sigma | pressure and its terms)")


def level_pressure(raw, spec: VerticalCoordinate, level_dim: str, lead_dims: tuple[str, ...]):
    """The real pressure [Pa] of every level of every column, as an xarray DataArray over
    (lead_dims…, level_dim, lat, lon) for hybrid and sigma coordinates, over (level_dim,) for pressure levels."""
    registry = unit_registry()

    def pascal(name_or_value, what: str):
        if isinstance(name_or_value, (int, float)):
            return float(name_or_value)
        if name_or_value not in raw.variables:
            raise UserError(f"the vertical coordinate's {what} variable {name_or_value!r} is not in the file; fix `vertical:` in the mapping")
        var = raw[name_or_value]
        units = var.attrs.get("units") or "Pa"
        return var * registry.Quantity(1.0, units).to("Pa").magnitude

    def coefficient(name: str):
        if name not in raw.variables:
            raise UserError(f"the vertical coordinate's variable {name!r} is not in the file; fix `vertical:` in the mapping")
        return raw[name].astype(np.float64)

    if spec.kind == "pressure":
        return pascal(level_dim, "level") if level_dim in raw.variables else None
    ps = pascal(spec.ps, "surface-pressure")
    if spec.kind == "hybrid":
        base = pascal(spec.ap, "ap") if spec.ap is not None else coefficient(spec.a) * pascal(spec.p0, "p0")
        p = base + coefficient(spec.b) * ps
    else:
        sigma = coefficient(spec.sigma or level_dim)
        ptop = pascal(spec.ptop, "ptop") if spec.ptop is not None else 0.0
        p = ptop + sigma * (ps - ptop)
    return p.transpose(*[d for d in (*lead_dims, level_dim) if d in p.dims], ...)


def interpolate_log_pressure(values: np.ndarray, p_source: np.ndarray, p_target: np.ndarray) -> tuple[np.ndarray, int, int]:
    """`values` [..., L_src] at pressures `p_source` [..., L_src] onto `p_target` [..., L_tgt] (broadcast),
    linear in ln p, per column. Returns (values on the targets, extrapolated count, below-surface count)."""
    v, ps_, pt = (np.asarray(a, dtype=np.float64) for a in (values, p_source, p_target))
    ps_, pt = np.broadcast_to(ps_, v.shape), np.broadcast_to(pt, v.shape[:-1] + pt.shape[-1:])
    order = np.argsort(-ps_, axis=-1)  # bottom (highest pressure) first, whatever the file's order
    v, ln_p = np.take_along_axis(v, order, axis=-1), np.log(np.take_along_axis(ps_, order, axis=-1))
    ln_t = np.log(pt)
    # index of the first source level above the target: ln p falls along the axis
    above = (ln_p[..., None, :] > ln_t[..., :, None]).sum(axis=-1)  # [..., L_tgt]: levels below (higher p) the target
    hi = np.clip(above, 1, v.shape[-1] - 1)
    lo = hi - 1
    take = lambda a, i: np.take_along_axis(a, i, axis=-1)  # noqa: E731
    x0, x1, y0, y1 = take(ln_p, lo), take(ln_p, hi), take(v, lo), take(v, hi)
    w = np.clip((ln_t - x0) / np.where(x1 == x0, 1.0, x1 - x0), 0.0, 1.0)
    out = y0 + w * (y1 - y0)
    below = int((above == 0).sum())  # the target lies below the column's lowest level (under its surface for pressure targets)
    extrapolated = int((above == v.shape[-1]).sum()) + below
    return out, extrapolated, below


def to_target_levels(field, p_source, target: TargetLevels, ps, level_dim: str):
    """One level field (DataArray, `level_dim` last but the horizontal) onto the target levels: a lazy
    DataArray over (…, "level", lat, lon) and a function returning the (extrapolated, below-surface) counts."""
    import xarray as xr

    levels = target.resolved()
    if target.kind == "sigma":
        if ps is None:
            raise UserError("sigma target levels need the surface pressure: map it (vertical.ps), or ingest onto pressure levels (--levels pressure:…)")
        p_target = (ps * xr.DataArray(levels, dims="level")).transpose(*[d for d in ps.dims if d not in ("lat", "lon")], "level", "lat", "lon")
    else:
        p_target = xr.DataArray(levels, dims="level")
    counts = []

    def one_block(v, p, t):  # v [..., L_src, H, W]; p and t the same, or per level only ([L])
        p = np.broadcast_to(p[:, None, None] if p.ndim == 1 else p, v.shape)
        t = np.broadcast_to(t[:, None, None] if t.ndim == 1 else t, v.shape[:-3] + (levels.size,) + v.shape[-2:])
        out, extrapolated, below = interpolate_log_pressure(np.moveaxis(v, -3, -1), np.moveaxis(p, -3, -1), np.moveaxis(t, -3, -1))
        if v.size:
            counts.append((extrapolated, below))
        return np.moveaxis(out, -1, -3).astype(np.float32)

    horizontal = lambda a, level: [level, "lat", "lon"] if "lat" in a.dims else [level]  # noqa: E731
    result = xr.apply_ufunc(
        one_block, field, p_source, p_target,
        input_core_dims=[[level_dim, "lat", "lon"], horizontal(p_source, level_dim), horizontal(p_target, "level")],
        output_core_dims=[["level", "lat", "lon"]], exclude_dims={level_dim}, dask="parallelized", output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"level": levels.size}, "allow_rechunk": True},
    )
    return result.assign_coords(level=levels), counts
