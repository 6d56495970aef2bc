"""GCM output ingestion: mapping files, lazy opening with unit conversion, datacube writing, value checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import xarray as xr
import yaml

from astrotrain.data.gcm import GcmMapping, load_mapping
from astrotrain.data.gcm import open_gcm as open_any_levels
from astrotrain.data.gcm_write import check_values, write_datacube
from astrotrain.data.vertical import TargetLevels
from astrotrain.errors import UserError
from astrotrain.hashing import sha256_file, sha256_tree
from astrotrain.universe.store import FIELD_UNITS, Universe

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "config" / "gcm_mappings"
N_TIME, N_LEV, N_LAT, N_LON = 3, 2, 4, 8
LAT = np.linspace(-67.5, 67.5, N_LAT)
LON = np.arange(N_LON) * 45.0
TARGET = TargetLevels(kind="pressure", values=[90000.0, 50000.0])  # the file's own two levels, bottom first


def open_gcm(path, m, **kwargs):
    """open_gcm onto the file's own levels (at PS = 1e5 Pa: 0.5 and 0.9 × PS), so values pass unchanged."""
    return open_any_levels(path, m, TARGET, **kwargs)


def ingested(levels_last_top_down: np.ndarray) -> np.ndarray:
    """The file's level order (CAM: top down) as ingested (bottom up)."""
    return np.flip(levels_last_top_down, axis=-3)


def exocam_tree(**variables) -> dict:
    """The ExoCAM example mapping as a dict; keyword arguments replace entries of `variables`."""
    tree = yaml.safe_load((MAPPINGS / "exocam.yaml").read_text())
    tree["variables"].update(variables)
    return tree


def mapping(time: bool = True, **variables) -> GcmMapping:
    tree = exocam_tree(**variables)
    if not time:
        del tree["dims"]["time"]
    return GcmMapping.model_validate(tree)


def exocam_dataset(time: bool = True) -> xr.Dataset:
    """Small CAM-like output. U is stored as (lon, lat, lev[, time]) to exercise reordering."""
    lead = ("time",) if time else ()
    surf, levels = lead + ("lat", "lon"), lead + ("lev", "lat", "lon")
    shape3 = (N_TIME,) * time + (N_LAT, N_LON)
    shape4 = (N_TIME,) * time + (N_LEV, N_LAT, N_LON)
    ramp4 = np.arange(np.prod(shape4), dtype=np.float32).reshape(shape4)
    u = (ramp4 / 10 - 5).astype(np.float32)
    ds = xr.Dataset(
        {
            "TS": (surf, np.full(shape3, 15.0, np.float32), {"units": "degC"}),
            "FSNT": (surf, np.full(shape3, 240.0, np.float32), {"units": "W/m2"}),
            "FLNT": (surf, np.full(shape3, 239.5, np.float32), {"units": "W m-2"}),
            "T": (levels, 250 + ramp4 / 100, {"units": "K"}),
            "Q": (levels, np.full(shape4, 5.0, np.float32), {"units": "g/kg"}),
            "CLOUD": (levels, np.full(shape4, 0.25, np.float32), {"units": "fraction"}),
            "U": (levels, u, {"units": "m/s"}),
            "V": (levels, -u, {"units": "m s-1"}),
            "PS": (surf, np.full(shape3, 1e5, np.float32), {"units": "Pa"}),  # the hybrid coordinate's surface pressure
            "hyam": (("lev",), np.zeros(N_LEV)), "hybm": (("lev",), np.array([0.5, 0.9])), "P0": ((), 1e5, {"units": "Pa"}),
        },
        coords={"lat": ("lat", LAT, {"units": "degrees_north"}), "lon": ("lon", LON), "lev": ("lev", [500.0, 900.0])},
    )
    ds["U"] = ds["U"].transpose("lon", "lat", "lev", *lead)
    if time:
        ds = ds.assign_coords(time=("time", np.arange(N_TIME, dtype=np.float64), {"units": "days since 2000-01-01"}))
    return ds


def write_nc(tmp_path: Path, ds: xr.Dataset, name: str = "run.cam.h0.nc", **kwargs) -> Path:
    path = tmp_path / name
    ds.to_netcdf(path, **kwargs)
    return path


# --- mapping files -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["exocam", "rocke3d"])
def test_example_mappings_load(name):
    m = load_mapping(MAPPINGS / f"{name}.yaml")
    assert set(m.variables) == set(FIELD_UNITS)
    assert m.dims.lat == "lat" and m.dims.level


def test_example_mapping_names():
    exo, rocke = load_mapping(MAPPINGS / "exocam.yaml"), load_mapping(MAPPINGS / "rocke3d.yaml")
    assert {k: v.name for k, v in exo.variables.items()} == {
        "surface_temperature": "TS", "asr": "FSNT", "olr": "FLNT", "temperature": "T",
        "specific_humidity": "Q", "cloud_fraction": "CLOUD", "u": "U", "v": "V",
    }  # fmt: skip
    assert (exo.dims.level, exo.dims.time) == ("lev", "time")
    assert rocke.variables["surface_temperature"].units == "degC"


def test_load_mapping_reports_every_bad_key(tmp_path):
    tree = exocam_tree(tsurf={"name": "TS"})
    tree["variables"]["olr"] = {"nmae": "FLNT"}
    tree["variables"]["u"] = {"name": "U", "units": "furlongs_per_blip"}
    tree["dimz"] = {}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tree))
    with pytest.raises(UserError) as err:
        load_mapping(path)
    msg = err.value.message
    assert "bad.yaml" in msg
    assert "variables.tsurf: unknown astrotrain field" in msg
    assert "variables.olr.nmae: unknown key; did you mean 'name'?" in msg
    assert "variables.u.units" in msg and "furlongs_per_blip" in msg
    assert "dimz: unknown key; did you mean 'dims'?" in msg


def test_load_mapping_level_fields_need_level_dim(tmp_path):
    tree = exocam_tree()
    del tree["dims"]["level"]
    path = tmp_path / "nolevel.yaml"
    path.write_text(yaml.safe_dump(tree))
    with pytest.raises(UserError, match=r"(?s)nolevel\.yaml.*dims\.level is not set"):
        load_mapping(path)


def test_load_mapping_missing_and_invalid_yaml(tmp_path):
    with pytest.raises(UserError, match="nothere.yaml not found"):
        load_mapping(tmp_path / "nothere.yaml")
    (tmp_path / "broken.yaml").write_text("model: [unclosed\n")
    with pytest.raises(UserError, match="broken.yaml is not valid YAML"):
        load_mapping(tmp_path / "broken.yaml")


# --- open_gcm ----------------------------------------------------------------------------------


def test_open_converts_renames_orders_lazily(tmp_path):
    src = exocam_dataset(time=True)
    ds = open_gcm(write_nc(tmp_path, src), mapping())

    assert set(ds.data_vars) == set(FIELD_UNITS) | {"surface_pressure"}
    for name, var in ds.data_vars.items():
        assert isinstance(var.data, da.Array), f"{name} is not dask-backed"
        assert var.dtype == np.float32
        assert var.attrs["units"] == FIELD_UNITS.get(name, "Pa")
    assert ds["surface_temperature"].dims == ("time", "lat", "lon")
    for name in ("temperature", "specific_humidity", "cloud_fraction", "u", "v"):
        assert ds[name].dims == ("time", "level", "lat", "lon")

    ts = ds["surface_temperature"].values
    assert ts.dtype == np.float32 and np.all(ts == np.float32(288.15))  # 15 degC
    assert np.all(ds["specific_humidity"].values == np.float32(0.005))  # 5 g/kg
    assert np.all(ds["asr"].values == 240.0) and np.all(ds["olr"].values == 239.5)
    assert np.all(ds["cloud_fraction"].values == 0.25)
    np.testing.assert_array_equal(ds["temperature"].values, ingested(src["T"].values))
    np.testing.assert_array_equal(ds["u"].values, ingested(src["U"].transpose("time", "lev", "lat", "lon").values))
    np.testing.assert_array_equal(ds["v"].values, -ds["u"].values)
    np.testing.assert_array_equal(ds["lat"].values, LAT)
    np.testing.assert_array_equal(ds["level"].values, [90000.0, 50000.0])
    assert ds["level"].attrs == {"level_kind": "pressure", "units": "Pa"}
    assert ds["lat"].attrs["units"] == "degrees_north" and ds["lon"].attrs["units"] == "degrees_east"
    assert ds.sizes == {"time": N_TIME, "level": N_LEV, "lat": N_LAT, "lon": N_LON}


def test_open_without_time_and_partial_mapping(tmp_path):
    tree = exocam_tree()
    del tree["dims"]["time"]
    tree["variables"] = {k: tree["variables"][k] for k in ("surface_temperature", "temperature")}
    ds = open_gcm(write_nc(tmp_path, exocam_dataset(time=False)), GcmMapping.model_validate(tree))
    assert set(ds.data_vars) == {"surface_temperature", "temperature", "surface_pressure"}
    assert ds["surface_temperature"].dims == ("lat", "lon")
    assert ds["temperature"].dims == ("level", "lat", "lon")
    assert "time" not in ds.dims


def test_declared_units_used_when_file_has_none(tmp_path):
    src = exocam_dataset()
    del src["TS"].attrs["units"]
    ds = open_gcm(write_nc(tmp_path, src), mapping(surface_temperature={"name": "TS", "units": "degC"}))
    assert np.all(ds["surface_temperature"].values == np.float32(288.15))


def test_file_units_take_precedence_and_percent_converts(tmp_path):
    src = exocam_dataset()
    src["CLOUD"] = src["CLOUD"] * 100
    src["CLOUD"].attrs["units"] = "%"
    ds = open_gcm(write_nc(tmp_path, src), mapping(cloud_fraction={"name": "CLOUD", "units": "fraction"}))
    assert np.all(ds["cloud_fraction"].values == np.float32(0.25))


def test_zarr_input(tmp_path):
    src = exocam_dataset()
    store = tmp_path / "run.zarr"
    src.to_zarr(store, zarr_format=3, consolidated=False)
    ds = open_gcm(store, mapping())
    assert isinstance(ds["temperature"].data, da.Array)
    assert np.all(ds["surface_temperature"].values == np.float32(288.15))
    out = write_datacube(ds, tmp_path / "cube")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source_sha256"] == sha256_tree(store)


# --- open_gcm errors ---------------------------------------------------------------------------


def raises_user_error(path, m, *needles):
    with pytest.raises(UserError) as err:
        open_gcm(path, m)
    for needle in needles:
        assert needle in err.value.message, (needle, err.value.message)
    return err.value.message


def test_missing_file(tmp_path):
    raises_user_error(tmp_path / "gone.nc", mapping(), "gone.nc", "not found")


@pytest.mark.parametrize("fmt", ["NETCDF4", "NETCDF3_64BIT"])
def test_truncated_file(tmp_path, fmt):
    path = write_nc(tmp_path, exocam_dataset(), name="cut.nc", format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    raises_user_error(path, mapping(), "cut.nc", "could not be read as NetCDF")


def test_corrupt_file(tmp_path):
    path = tmp_path / "noise.nc"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    raises_user_error(path, mapping(), "noise.nc", "could not be read as NetCDF")


def test_corrupt_zarr(tmp_path):
    store = tmp_path / "broken.zarr"
    store.mkdir()
    (store / "zarr.json").write_text("{not json")
    raises_user_error(store, mapping(), "broken.zarr", "could not be read as Zarr")


def test_missing_variable_lists_what_file_has(tmp_path):
    path = write_nc(tmp_path, exocam_dataset())
    msg = raises_user_error(path, mapping(olr={"name": "FLUT"}), path.name, "'FLUT'", "olr", "variables.olr.name")
    assert "FLNT, FSNT, P0, PS, Q, T, TS, U, V" in msg


def test_missing_dim(tmp_path):
    tree = exocam_tree()
    tree["dims"]["lat"] = "latitude"
    path = write_nc(tmp_path, exocam_dataset())
    raises_user_error(path, GcmMapping.model_validate(tree), path.name, "'TS'", "dims.lat", "'latitude'")


def test_missing_time_dim(tmp_path):
    path = write_nc(tmp_path, exocam_dataset(time=False))
    raises_user_error(path, mapping(time=True), path.name, "'TS'", "dims.time")


def test_units_missing_everywhere(tmp_path):
    src = exocam_dataset()
    del src["FSNT"].attrs["units"]
    path = write_nc(tmp_path, src)
    raises_user_error(path, mapping(asr={"name": "FSNT"}), path.name, "'FSNT'", "no units", "variables.asr.units")


def test_incompatible_units(tmp_path):
    src = exocam_dataset()
    src["TS"].attrs["units"] = "m/s"
    path = write_nc(tmp_path, src)
    no_declared = mapping(surface_temperature={"name": "TS"})
    raises_user_error(path, no_declared, path.name, "'TS'", "incompatible units", "expected 'K'", "found 'm/s'")


def test_unknown_units_in_file(tmp_path):
    src = exocam_dataset()
    src["U"].attrs["units"] = "furlongs/fortnightly"
    path = write_nc(tmp_path, src)
    raises_user_error(path, mapping(u={"name": "U"}), path.name, "'U'", "not understood")


def test_declared_units_rescue_a_wrong_file_attribute(tmp_path):
    """ModelE writes "C" for Celsius, which pint reads as coulomb: the mapping's declared degC wins."""
    src = exocam_dataset()
    src["TS"].attrs["units"] = "C"
    src["TS"].values[:] = 15.0
    path = write_nc(tmp_path, src)
    ds = open_gcm(path, mapping(surface_temperature={"name": "TS", "units": "degC"}))
    np.testing.assert_allclose(ds["surface_temperature"].values, 288.15, rtol=1e-6)


def test_level_field_without_level_dim(tmp_path):
    src = exocam_dataset()
    src["T"] = src["T"].isel(lev=0, drop=True)
    path = write_nc(tmp_path, src)
    raises_user_error(path, mapping(), path.name, "'T'", "level field temperature", "'lev'")


def test_surface_field_with_extra_dim(tmp_path):
    path = write_nc(tmp_path, exocam_dataset())
    raises_user_error(path, mapping(surface_temperature={"name": "T"}), path.name, "'T'", "['lev']")


# --- write_datacube ----------------------------------------------------------------------------


@pytest.mark.parametrize("time", [True, False])
def test_datacube_round_trip(tmp_path, time):
    src_path = write_nc(tmp_path, exocam_dataset(time=time))
    ds = open_gcm(src_path, mapping(time=time))
    out = write_datacube(ds, tmp_path / "cube", planet_id=7)

    back = xr.open_zarr(out / "climate.zarr", consolidated=False)
    lead = ("planet", "time") if time else ("planet",)
    expected = ds.compute()
    for name in FIELD_UNITS:
        var = back[name]
        assert var.dims == lead + (("level",) if name not in ("surface_temperature", "asr", "olr") else ()) + ("lat", "lon")
        assert var.dtype == np.float32 and var.attrs["units"] == FIELD_UNITS[name]
        np.testing.assert_array_equal(var.isel(planet=0).values, expected[name].values)
    assert back["planet"].values.tolist() == [7]
    np.testing.assert_array_equal(back["lat"].values, LAT)
    np.testing.assert_array_equal(back["level"].values, [90000.0, 50000.0])
    np.testing.assert_allclose(back["area_weights"].values.sum(), 1.0)

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"] == str(src_path.resolve())
    assert manifest["source_sha256"] == sha256_file(src_path)
    assert manifest["model"] == "ExoCAM" and manifest["mapping"]["variables"]["asr"]["name"] == "FSNT"
    assert manifest["variables"]["olr"]["units"] == "W m-2"
    assert manifest["dims"] == {"planet": 1, **({"time": N_TIME} if time else {}), "level": N_LEV, "lat": N_LAT, "lon": N_LON}
    assert not list(tmp_path.glob("*.partial"))


def test_datacube_readable_by_universe_reader(tmp_path):
    ds = open_gcm(write_nc(tmp_path, exocam_dataset(time=False)), mapping(time=False))
    out = write_datacube(ds, tmp_path / "cube")
    temperature = Universe(out).field("temperature")
    assert temperature.shape == (1, N_LEV, N_LAT, N_LON) and temperature.dtype == np.float32
    np.testing.assert_array_equal(temperature[0], ds["temperature"].values)


def test_failed_write_leaves_nothing(tmp_path):
    src_path = write_nc(tmp_path, exocam_dataset(time=False))
    ds = open_gcm(src_path, mapping(time=False))

    def unreadable(block):
        raise OSError("simulated read failure")

    ds["olr"] = ds["olr"].copy(data=da.map_blocks(unreadable, ds["olr"].data, dtype=np.float32))
    out_parent = tmp_path / "out"
    with pytest.raises(OSError, match="simulated read failure"):
        write_datacube(ds, out_parent / "cube")
    assert not (out_parent / "cube").exists()
    assert os.listdir(out_parent) == []


def test_write_rejects_non_fields_and_missing_source(tmp_path):
    ds = open_gcm(write_nc(tmp_path, exocam_dataset()), mapping())
    with pytest.raises(UserError, match="'PS'"):
        write_datacube(ds.assign(PS=ds["asr"]), tmp_path / "cube")
    with pytest.raises(UserError, match="gone.nc"):
        write_datacube(ds, tmp_path / "cube", source=tmp_path / "gone.nc")
    assert not (tmp_path / "cube").exists() and not list(tmp_path.glob(".cube*"))


# --- check_values ------------------------------------------------------------------------------


def test_check_values_counts_problems_exactly():
    shape = (N_LEV, N_LAT, N_LON)
    ts = np.full((N_LAT, N_LON), 288.0, np.float32)
    ts[0, :3] = np.nan
    ts[1, 0] = np.inf
    ts[2, :2] = [40.0, 1200.0]
    temperature = np.full(shape, 250.0, np.float32)
    temperature[0, 0, 0] = 50.0  # the bound itself is out of range
    q = np.full(shape, 1e-3, np.float32)
    q[1, :, 0] = -1e-4
    cloud = np.full(shape, 0.5, np.float32)
    cloud[0, 0, :2] = [-0.1, 1.5]
    cloud[1, 1, 1] = np.nan
    asr = np.full((N_LAT, N_LON), 200.0, np.float32)
    asr[3, 7] = -2.0
    ds = xr.Dataset(
        {
            "surface_temperature": (("lat", "lon"), ts),
            "temperature": (("level", "lat", "lon"), temperature),
            "specific_humidity": (("level", "lat", "lon"), q),
            "cloud_fraction": (("level", "lat", "lon"), cloud),
            "asr": (("lat", "lon"), asr),
            "olr": (("lat", "lon"), np.full((N_LAT, N_LON), 230.0, np.float32)),
        }
    ).chunk({"lat": 2})
    problems = {(p["variable"], p["check"]): p for p in check_values(ds)}
    counts = {key: p["count"] for key, p in problems.items()}
    assert counts == {
        ("surface_temperature", "non_finite"): 4,
        ("surface_temperature", "range"): 2,  # 40 K and 1200 K; inf is counted as non-finite only
        ("temperature", "range"): 1,
        ("specific_humidity", "negative"): N_LAT,
        ("cloud_fraction", "non_finite"): 1,
        ("cloud_fraction", "range"): 2,
        ("asr", "negative"): 1,
    }
    assert problems[("surface_temperature", "non_finite")]["detail"] == "3 NaN, 1 inf"
    assert "40 .. 1200" in problems[("surface_temperature", "range")]["detail"]
    assert "-0.1 .. 1.5" in problems[("cloud_fraction", "range")]["detail"]
    assert isinstance(ds["asr"].data, da.Array)  # the dataset itself stays lazy


def test_check_values_clean(tmp_path):
    ds = open_gcm(write_nc(tmp_path, exocam_dataset()), mapping())
    assert check_values(ds) == []
    assert isinstance(ds["temperature"].data, da.Array)
