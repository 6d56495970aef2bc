"""GCM output in three models' conventions (files written here, `gcm_conventions.py`): native grids,
hybrid and σ vertical coordinates, cftime calendars, many files per run, spin-up, climatologies,
CF standard names, and the planet parameters of a sidecar table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from astrotrain.data.gcm import load_mapping, open_gcm
from astrotrain.data.gcm_write import cell_area_weights, read_parameters, write_datacube
from astrotrain.data.vertical import TargetLevels, level_pressure, parse_target_levels
from astrotrain.errors import UserError
from tests.gcm_conventions import cam_grid, gaussian_latitudes, temperature_of, write_cam, write_cf, write_exoplasim, write_rocke3d

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "config" / "gcm_mappings"


def analytic_temperature(cube) -> np.ndarray:
    """What the interpolated temperature must be: the files' T(p) at σ × the column's surface pressure."""
    sigma = cube["level"].values
    p = sigma[:, None, None] * cube["surface_pressure"].values[..., None, :, :]
    return temperature_of(p, cube["lat"].values[:, None] * np.ones(cube.sizes["lon"]))


def test_cam_level_pressure_is_hyam_p0_plus_hybm_ps(tmp_path):
    (path,) = write_cam(tmp_path, years=1, months=1)
    raw = xr.open_dataset(path)
    m = load_mapping(MAPPINGS / "exocam.yaml")
    p = level_pressure(raw, m.vertical, "lev", ("time",)).transpose("time", "lev", "lat", "lon").values
    by_hand = raw["hyam"].values[:, None, None] * float(raw["P0"]) + raw["hybm"].values[:, None, None] * raw["PS"].values[:, None]
    np.testing.assert_allclose(p, by_hand, rtol=1e-12)
    assert p[0, 0].max() < 0.02 * 1e5 and p[0, -1].min() > 0.9 * 1e5  # lev is top down: 1 % of P0 at the top


def test_a_cam_run_of_many_monthly_files_is_ingested_onto_sigma_levels_without_its_spin_up(tmp_path):
    write_cam(tmp_path / "case", years=2)
    ds = open_gcm(str(tmp_path / "case" / "*.cam.h0.*.nc"), load_mapping(MAPPINGS / "exocam.yaml"), skip_years=1)
    assert ds.sizes == {"time": 12, "level": 10, "lat": 46, "lon": 72}  # 24 files, the first year dropped
    assert ds.attrs["time"]["calendar"] == "noleap" and ds.attrs["time"]["skipped_years"] == 1
    assert ds.attrs["time"]["first"].startswith("0002-01") and len(ds.attrs["sources"]) == 24
    out = write_datacube(ds, tmp_path / "cube")
    cube = xr.open_zarr(out / "climate.zarr", consolidated=False).isel(planet=0)
    error = np.abs(cube["temperature"].values - analytic_temperature(cube))
    assert error[:, :-1].max() < 1e-3  # T linear in ln p: exact, up to float32, below the source's top
    manifest = json.loads((out / "manifest.json").read_text())
    vertical = manifest["vertical"]
    assert vertical["source"]["kind"] == "hybrid" and vertical["target"]["kind"] == "sigma" and len(vertical["target"]["levels"]) == 10
    assert 0 < vertical["extrapolated_cells"] < 0.1 * vertical["cells"] and vertical["below_surface_cells"] == 0  # only above the top
    assert len(manifest["source"]) == 24 and len(manifest["source_sha256"]) == 24 and manifest["area_weights"] == "the file's latitude weights"
    gw = xr.open_dataset(tmp_path / "case" / "run.cam.h0.0001-01.nc")["gw"].values
    np.testing.assert_allclose(cube["area_weights"].values[:, 0] * 72, gw / gw.sum(), rtol=1e-10)


def test_climatologies_and_bad_time_requests(tmp_path):
    write_cam(tmp_path / "case", years=2)
    m = load_mapping(MAPPINGS / "exocam.yaml")
    pattern = str(tmp_path / "case" / "*.nc")
    mean = open_gcm(pattern, m, time="mean")
    assert "time" not in mean.dims and mean.sizes["level"] == 10
    monthly = open_gcm(pattern, m, time="monthly")
    assert monthly.sizes["time"] == 12 and monthly.attrs["time"]["samples_in_file"] == 24
    with pytest.raises(UserError, match="drops every sample"):
        open_gcm(pattern, m, skip_years=5)
    with pytest.raises(UserError, match="matches no file"):
        open_gcm(str(tmp_path / "nothing" / "*.nc"), m)


def test_rocke3d_aij_and_aijk_files_merge_onto_sigma_levels_from_a_model_top(tmp_path):
    files = write_rocke3d(tmp_path)
    ds = open_gcm(files, load_mapping(MAPPINGS / "rocke3d.yaml"))
    assert ds.sizes == {"time": 12, "level": 10, "lat": 46, "lon": 72}
    assert ds.attrs["time"]["calendar"] == "proleptic_gregorian"
    np.testing.assert_allclose(ds["surface_pressure"].values, xr.open_dataset(files[0])["prsurf"].values * 100.0, rtol=1e-6)  # mb → Pa
    cube = write_datacube(ds, tmp_path / "cube")
    c = xr.open_zarr(cube / "climate.zarr", consolidated=False).isel(planet=0)
    error = np.abs(c["temperature"].values - analytic_temperature(c))  # °C → K, and p = ptop + σ (ps − ptop)
    levels_inside = (c["level"].values > 0.2) & (c["level"].values < 0.97)  # σ targets inside the layers (192 mb … 0.97 ps)
    assert error[:, levels_inside].max() < 1e-3
    assert 0.25 < float(c["cloud_fraction"].mean()) < 0.35  # % → fraction


def test_exoplasim_output_on_a_gaussian_grid_with_ps_in_hpa(tmp_path):
    path = write_exoplasim(tmp_path / "MOST.nc")
    ds = open_gcm(path, load_mapping(MAPPINGS / "exoplasim.yaml"), time="mean")
    assert ds.sizes == {"level": 10, "lat": 32, "lon": 64} and ds.attrs["time"]["calendar"] == "360_day"
    assert float(ds["surface_pressure"].mean()) == pytest.approx(1e5, rel=0.01)  # hPa → Pa
    out = write_datacube(ds, tmp_path / "cube")
    c = xr.open_zarr(out / "climate.zarr", consolidated=False).isel(planet=0)
    inside = (c["level"].values > 0.06) & (c["level"].values < 0.97)
    assert np.abs(c["temperature"].values - analytic_temperature(c))[inside].max() < 1e-3
    # Gaussian latitudes without weights in the file: cell areas between the midpoints
    w = c["area_weights"].values[:, 0]
    assert w.sum() * 64 == pytest.approx(1.0) and w[16] > 5 * w[0]
    np.testing.assert_allclose(gaussian_latitudes(32), c["lat"].values)


def test_a_cf_file_needs_no_mapping_and_pressure_levels_fill_below_the_surface(tmp_path):
    path = write_cf(tmp_path / "cf.nc")
    ds = open_gcm(path, None, parse_target_levels("pressure:95000,70000,30000"))
    assert set(ds.data_vars) >= {"surface_temperature", "asr", "olr", "temperature", "specific_humidity", "cloud_fraction", "u", "v"}
    np.testing.assert_allclose(ds["temperature"].isel(time=0, level=1).values, temperature_of(70000.0, ds["lat"].values[:, None] * np.ones(72)), rtol=1e-5)
    out = write_datacube(ds, tmp_path / "cube")
    vertical = json.loads((out / "manifest.json").read_text())["vertical"]
    assert vertical["source"]["kind"] == "pressure" and vertical["target"]["levels"] == [95000.0, 70000.0, 30000.0]
    assert vertical["below_surface_cells"] > 0  # 950 hPa lies below the file's lowest level (900 hPa): filled, counted


def test_target_levels_and_vertical_mappings_are_checked():
    assert parse_target_levels(None).kind == "sigma" and len(TargetLevels().resolved()) == 10
    assert parse_target_levels("sigma:0.9,0.5,0.1").resolved().tolist() == [0.9, 0.5, 0.1]
    for bad, needle in (("sigma:0.5,0.9", "decrease upward"), ("sigma:1.5,0.5", "at most 1"), ("height:3", "--levels")):
        with pytest.raises(UserError, match=needle):
            parse_target_levels(bad)
    with pytest.raises(UserError, match="pressure target levels need values"):
        TargetLevels(kind="pressure").resolved()
    from astrotrain.data.vertical import VerticalCoordinate

    with pytest.raises(ValueError, match="a hybrid coordinate needs"):
        VerticalCoordinate(kind="hybrid", b="hybm")


def test_a_file_without_a_declared_vertical_coordinate_is_refused_with_the_fix(tmp_path):
    (path,) = write_cam(tmp_path, years=1, months=1)
    raw = xr.open_dataset(path)
    raw["lev"].attrs = {"units": "level"}  # no standard_name, no formula_terms
    raw.to_netcdf(tmp_path / "bare.nc")
    tree = load_mapping(MAPPINGS / "exocam.yaml").model_dump()
    tree.pop("vertical")
    from astrotrain.data.gcm import GcmMapping

    with pytest.raises(UserError, match="set `vertical:` in the mapping"):
        open_gcm(tmp_path / "bare.nc", GcmMapping.model_validate(tree))
    ds = open_gcm(path, GcmMapping.model_validate(tree))  # CAM's own formula_terms say it
    assert json.loads(json.dumps(ds.attrs["vertical"]["source"]))["kind"] == "hybrid"


def test_sidecar_parameters_are_converted_and_checked(tmp_path):
    table = tmp_path / "p.csv"
    table.write_text("run,T_star [K],F_star [S_earth],radius [km],gravity,P_rot [h],P0 [hPa],CO2,CH4\n"
                     "a,3300,0.7,6371,9.81,240,1013.25,4e-4,1e-6\n")
    p = read_parameters(table, "a")
    assert p["F_star"] == pytest.approx(0.7 * 1361) and p["radius"] == pytest.approx(1.0) and p["P_rot"] == pytest.approx(10.0)
    assert p["P0"] == pytest.approx(1.01325)
    with pytest.raises(UserError, match="0 rows for run 'b'"):
        read_parameters(table, "b")
    table.write_text("run,T_star,F_star [m],radius,gravity,P_rot,P0,CO2,CH4\na,3300,900,1,9.8,10,1,4e-4,0\n")
    with pytest.raises(UserError, match="cannot convert 'm'"):
        read_parameters(table, "a")
    table.write_text("run,T_star,F_star\na,3300,900\n")
    with pytest.raises(UserError, match="columns for"):
        read_parameters(table, "a")


def test_cell_area_weights_of_a_grid_with_pole_points():
    lat, _ = cam_grid()
    w = cell_area_weights(lat, 72)[:, 0] * 72
    # a pole point's cell reaches from the pole to the midpoint 2° away: its area is 1 − sin(88°) of the hemisphere's
    assert w[0] == pytest.approx((1 - np.sin(np.deg2rad(88.0))) / 2, rel=1e-9)
    assert w.sum() == pytest.approx(1.0) and np.allclose(w, w[::-1])
