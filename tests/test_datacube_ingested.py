"""User data through the same door: multi-time GCM NetCDF → `astrotrain data ingest` → the datacube U-Net."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from .conftest import ROOT, SMOKE, run_cli, smoke_args

MAPPING = ROOT / "config" / "gcm_mappings" / "exocam.yaml"

N_TIME, N_LAT, N_LON = 4, 8, 16
LEV_HPA = np.array([100.0, 300.0, 500.0, 700.0, 850.0, 950.0])  # CAM order: top of the model first


def gcm_run(seed: int) -> xr.Dataset:
    """A CAM-like monthly history file of one planet: a day-night surface pattern whose contrast and
    mean vary by planet and month, temperature on a dry adiabat above it, RH = 0.6, cloud and winds
    tied to the surface contrast — fields a U-Net can learn from the surface maps."""
    rng = np.random.default_rng(seed)
    lat = np.linspace(-78.75, 78.75, N_LAT)
    lon = np.arange(N_LON) * 360.0 / N_LON
    cos_zenith = np.clip(np.cos(np.deg2rad(lat))[:, None] * np.cos(np.deg2rad(lon))[None, :], 0, None)
    mean, contrast = rng.uniform(250, 300), rng.uniform(10, 60)
    ts = np.stack([mean + 3 * np.sin(m) + contrast * (cos_zenith - 0.3) + rng.normal(0, 0.5, cos_zenith.shape) for m in range(N_TIME)])
    p = LEV_HPA[None, :, None, None] * 100.0
    t = ts[:, None] * (p / 1e5) ** (2 / 7)
    e_s = 611.2 * np.exp(17.67 * (t - 273.15) / (t - 29.65))
    q = 0.6 * 0.622 * e_s / (p - 0.378 * e_s)
    cloud = np.clip(0.2 + 0.5 * cos_zenith[None, None] * (LEV_HPA[None, :, None, None] / 1000), 0, 1) * np.ones_like(t)
    u = (contrast / 10) * (1 - LEV_HPA[None, :, None, None] / 1000) * np.cos(np.deg2rad(lat))[None, None, :, None] * np.ones_like(t)
    surf, levels = ("time", "lat", "lon"), ("time", "lev", "lat", "lon")
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    return xr.Dataset(
        {
            "TS": (surf, f32(ts), {"units": "K"}),
            "FSNT": (surf, f32(900 * cos_zenith * np.ones_like(ts)), {"units": "W/m2"}),
            "FLNT": (surf, f32(5.67e-8 * ts**4 * 0.6), {"units": "W/m2"}),
            "T": (levels, f32(t), {"units": "K"}),
            "Q": (levels, f32(q), {"units": "kg/kg"}),
            "CLOUD": (levels, f32(cloud), {"units": "fraction"}),
            "U": (levels, f32(u), {"units": "m/s"}),
            "V": (levels, f32(-0.3 * u), {"units": "m/s"}),
        },
        coords={"lat": lat, "lon": lon, "lev": ("lev", LEV_HPA, {"units": "hPa"}), "time": np.arange(N_TIME, dtype=np.float64)},
    )


def ingest(tmp_path: Path, n_planets: int) -> list[str]:
    """`astrotrain data ingest` of one CAM-like file per planet; the datacube folders."""
    from astrotrain.cli import main

    outs = []
    for i in range(n_planets):
        src = tmp_path / f"planet{i}.cam.h0.nc"
        gcm_run(i).to_netcdf(src)
        out = tmp_path / "gcm" / f"planet{i}"
        args = ["data", "ingest", str(src), "--mapping", str(MAPPING), "--out", str(out), "--config", str(SMOKE), "--no-progress"]
        assert main(args) == 0
        outs.append(str(out))
    return outs


@pytest.mark.slow
def test_ingested_multi_time_cubes_train_the_same_model(tmp_path):
    cubes = ingest(tmp_path, 12)
    args = smoke_args(tmp_path, tmp_path / "no-universe", "--component", "datacube", "--physics-constraints",
                      f"components.datacube.datacubes={json.dumps(cubes)}", "components.datacube.max_epochs=40",
                      "components.datacube.batch_size=2")
    res = run_cli(args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (run,) = (tmp_path / "runs").iterdir()
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert len([k for k in test if k.startswith("temperature_rmse_level")]) == len(LEV_HPA)
    assert test["q_negative_pred"] == 0.0 and test["cloud_outside_pred"] == 0.0
    assert test["temperature_rmse"] < 0.5 * test["temperature_rmse_train_mean"]
    # the truth is built dry-adiabatic at RH 0.6: no constraint residual in the data
    assert test["unstable_share_truth"] == 0.0 and test["supersaturated_share_truth"] == 0.0
    provenance = json.loads((run / "provenance.json").read_text())
    assert provenance["data"]["universe"] is None and not (tmp_path / "no-universe").exists()
    assert [Path(s["path"]).name for s in provenance["data"]["sources"]] == [f"planet{i}" for i in range(12)]
    assert all(s["model"] == "ExoCAM" and len(s["source_sha256"]) == 64 for s in provenance["data"]["sources"])


def test_ingested_level_pressures_are_ordered_bottom_up_and_converted(tmp_path):
    from astrotrain.components.datacube.config import DatacubeConfig
    from astrotrain.components.datacube.sources import ingested_source

    cubes = ingest(tmp_path, 2)
    source = ingested_source(cubes, DatacubeConfig())
    np.testing.assert_allclose(source.pressure[0], LEV_HPA[::-1] * 100.0)  # Pa, bottom first
    t = source.targets["temperature"]
    assert t.shape == (2, N_TIME, len(LEV_HPA), N_LAT, N_LON)
    assert np.all(t[:, :, 0] > t[:, :, -1])  # the lowest level is the warmest on a dry adiabat
    np.testing.assert_allclose(source.area_weights.sum(), 1.0, rtol=1e-12)
    assert source.area_weights[0, 0] < source.area_weights[N_LAT // 2, 0]  # polar cells are smaller
    assert np.all(source.features == 0)  # no planet parameters: FiLM is the identity


def test_bad_ingested_inputs_are_named(tmp_path):
    cubes = ingest(tmp_path, 2)
    not_a_cube = tmp_path / "empty"
    not_a_cube.mkdir()
    for value, needle in (
        ([str(not_a_cube)], "is not an ingested datacube"),
        (cubes, "a planet split (train/val/test) needs at least 3"),
    ):
        res = run_cli(smoke_args(tmp_path, tmp_path / "cache", "--component", "datacube",
                                 f"components.datacube.datacubes={json.dumps(value)}"), cwd=tmp_path)
        assert res.returncode == 2 and needle in res.stderr, res.stderr
        assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    res = run_cli(smoke_args(tmp_path, tmp_path / "cache", "--component", "datacube", "--validate-only",
                             "components.datacube.level_pressure_units=metre"), cwd=tmp_path)
    assert res.returncode == 2 and "level_pressure_units" in res.stderr and "not a pressure unit" in res.stderr
