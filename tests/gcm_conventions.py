"""Small GCM output files in three models' conventions, written by the tests themselves.

Every field is an analytic function of latitude, longitude and the column's real pressure, so a
test can say what ingestion must give: temperature is linear in ln p (T = 200 K + 10 K · ln(p / 100 Pa)
+ 5 K · cos φ), which linear-in-ln-p interpolation reproduces exactly.

* `write_cam` — CAM/ExoCAM history files: the 4° × 5° finite-volume grid (46 latitudes with the
  poles × 72 longitudes), hybrid σ-pressure `lev` top down (hyam, hybm, P0, PS; formula_terms as CAM
  writes them), a `noleap` calendar, one file per month (`<case>.cam.h0.YYYY-MM.nc`), `_FillValue`s, gw;
* `write_rocke3d` — ROCKE-3D/ModelE: `aij` (surface, °C, mb) and `aijk` (σ layers with a model top) files
  of the same months, a `proleptic_gregorian` calendar;
* `write_exoplasim` — ExoPlaSim's postprocessed output: a T21 Gaussian grid (32 × 64), σ levels top
  down, ps in hPa, a `360_day` calendar, CMIP-style names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

SIGMA_SB = 5.670374419e-8


def temperature_of(p, lat_deg):
    """The analytic air temperature of every test file [K] at pressure `p` [Pa] and latitude."""
    return 200.0 + 10.0 * np.log(np.asarray(p) / 100.0) + 5.0 * np.cos(np.deg2rad(lat_deg))


def _columns(p, lat, lon):
    """Level fields [..., L, H, W] from level pressures of the same shape."""
    latg = lat[:, None] * np.ones_like(lon)[None, :]
    temperature = temperature_of(p, latg)
    q = 1e-3 * (p / 1e5) ** 3 * np.cos(np.deg2rad(latg)) ** 2 + 1e-7
    cloud = np.clip(0.3 + 0.2 * np.sin(np.deg2rad(lon))[None, :] * np.ones_like(p), 0.0, 1.0)
    u = 10.0 * np.cos(np.deg2rad(latg)) * (1e5 / p) ** 0.3
    v = 2.0 * np.sin(np.deg2rad(latg)) * np.ones_like(p)
    return temperature, q, cloud, u, v


def _surface(ps, lat, lon):
    day = np.maximum(np.cos(np.deg2rad(lon - 180.0)), 0.0)[None, :] * np.cos(np.deg2rad(lat))[:, None]
    asr = 300.0 * day * np.ones_like(ps)
    ts = temperature_of(ps, lat[:, None] * np.ones_like(lon)[None, :]) + 2.0
    olr = 0.6 * SIGMA_SB * ts**4
    return ts, asr, olr


def cam_grid():
    return np.linspace(-90.0, 90.0, 46), np.arange(72) * 5.0


def write_cam(folder: Path, case: str = "run", years: int = 2, ps_scale: float = 1.0, n_lev: int = 8, months: int = 12,
              contrast: float = 1.0) -> list[Path]:
    import cftime

    folder.mkdir(parents=True, exist_ok=True)
    lat, lon = cam_grid()
    eta = np.geomspace(0.01, 0.97, n_lev)  # top down, as CAM orders lev
    hybm, hyam = eta**2, eta - eta**2  # p = hyam·P0 + hybm·PS: pure pressure at the top, σ at the bottom
    files = []
    for year in range(1, years + 1):
        for month in range(1, months + 1):
            season = 1.0 + 0.01 * np.cos(2 * np.pi * month / 12)
            ps = ps_scale * 1e5 * season * (1.0 + 0.02 * np.cos(np.deg2rad(lat))[:, None] * np.cos(np.deg2rad(lon))[None, :])
            p = hyam[:, None, None] * 1e5 + hybm[:, None, None] * ps[None]
            temperature, q, cloud, u, v = _columns(p, lat, lon)
            ts, asr, olr = _surface(ps, lat, lon)
            asr, ts = asr * contrast, ts + 20.0 * (contrast - 1.0) * np.maximum(np.cos(np.deg2rad(lon - 180.0)), 0)[None, :]
            time = [cftime.DatetimeNoLeap(year, month, 15)]
            ds = xr.Dataset(
                {"TS": (("time", "lat", "lon"), ts[None].astype(np.float32), {"units": "K"}),
                 "FSNT": (("time", "lat", "lon"), asr[None].astype(np.float32), {"units": "W/m2"}),
                 "FLNT": (("time", "lat", "lon"), olr[None].astype(np.float32), {"units": "W/m2"}),
                 "PS": (("time", "lat", "lon"), ps[None].astype(np.float32), {"units": "Pa"}),
                 "T": (("time", "lev", "lat", "lon"), temperature[None].astype(np.float32), {"units": "K"}),
                 "Q": (("time", "lev", "lat", "lon"), q[None].astype(np.float32), {"units": "kg/kg"}),
                 "CLOUD": (("time", "lev", "lat", "lon"), cloud[None].astype(np.float32), {"units": "fraction"}),
                 "U": (("time", "lev", "lat", "lon"), u[None].astype(np.float32), {"units": "m/s"}),
                 "V": (("time", "lev", "lat", "lon"), v[None].astype(np.float32), {"units": "m/s"}),
                 "hyam": (("lev",), hyam), "hybm": (("lev",), hybm), "P0": ((), 1e5, {"units": "Pa"}),
                 "gw": (("lat",), np.diff(np.sin(np.deg2rad(np.r_[-90, 0.5 * (lat[1:] + lat[:-1]), 90]))) * 2)},
                coords={"time": time, "lat": ("lat", lat, {"units": "degrees_north"}), "lon": ("lon", lon, {"units": "degrees_east"}),
                        "lev": ("lev", 1000.0 * eta, {"standard_name": "atmosphere_hybrid_sigma_pressure_coordinate",
                                                     "formula_terms": "a: hyam b: hybm p0: P0 ps: PS", "units": "level"})},
            )
            encoding = {name: {"_FillValue": np.float32(1e36)} for name in ("T", "Q", "CLOUD", "U", "V", "TS", "FSNT", "FLNT", "PS")}
            encoding["time"] = {"units": "days since 0001-01-01", "calendar": "noleap"}
            path = folder / f"{case}.cam.h0.{year:04d}-{month:02d}.nc"
            ds.to_netcdf(path, encoding=encoding)
            files.append(path)
    return files


def write_rocke3d(folder: Path, run: str = "run", ps_scale: float = 1.0, n_lev: int = 8) -> list[Path]:
    import cftime

    folder.mkdir(parents=True, exist_ok=True)
    lat, lon = cam_grid()
    sigma = np.linspace(0.97, 0.05, n_lev)  # bottom up, as ModelE orders its layers
    ptop = 150.0  # mb
    months = [cftime.DatetimeProlepticGregorian(2000, m, 15) for m in range(1, 13)]
    ps = ps_scale * 1000.0 * (1.0 + 0.02 * np.cos(np.deg2rad(lat))[:, None] * np.cos(np.deg2rad(lon))[None, :])  # mb
    ps_t = np.repeat(ps[None], 12, axis=0)
    p = (ptop + sigma[None, :, None, None] * (ps_t[:, None] - ptop)) * 100.0  # Pa
    temperature, q, cloud, u, v = _columns(p, lat, lon)
    ts, asr, olr = _surface(ps_t * 100.0, lat, lon)
    coords = {"time": months, "lat": ("lat", lat, {"units": "degrees_north"}), "lon": ("lon", lon, {"units": "degrees_east"})}
    aij = xr.Dataset({"tsurf": (("time", "lat", "lon"), (ts - 273.15).astype(np.float32), {"units": "C"}),
                      "srnf_toa": (("time", "lat", "lon"), asr.astype(np.float32), {"units": "W/m^2"}),
                      "olrrad": (("time", "lat", "lon"), olr.astype(np.float32), {"units": "W/m^2"}),
                      "prsurf": (("time", "lat", "lon"), ps_t.astype(np.float32), {"units": "mb"})}, coords=coords)
    aijk = xr.Dataset({"t": (("time", "level", "lat", "lon"), (temperature - 273.15).astype(np.float32), {"units": "C"}),
                       "q": (("time", "level", "lat", "lon"), q.astype(np.float32), {"units": "kg/kg"}),
                       "cf": (("time", "level", "lat", "lon"), (100 * cloud).astype(np.float32), {"units": "%"}),
                       "u": (("time", "level", "lat", "lon"), u.astype(np.float32), {"units": "m/s"}),
                       "v": (("time", "level", "lat", "lon"), v.astype(np.float32), {"units": "m/s"}),
                       "sige_mid": (("level",), sigma), "ptop": ((), ptop, {"units": "mb"})},
                      coords={**coords, "level": ("level", np.arange(1, n_lev + 1))})
    encoding = {"time": {"units": "days since 2000-01-01", "calendar": "proleptic_gregorian"}}
    paths = [folder / f"JAN-DEC2000.aij{run}.nc", folder / f"JAN-DEC2000.aijk{run}.nc"]
    aij.to_netcdf(paths[0], encoding=encoding)
    aijk.to_netcdf(paths[1], encoding=encoding)
    return paths


def gaussian_latitudes(n: int) -> np.ndarray:
    x, _ = np.polynomial.legendre.leggauss(n)
    return np.rad2deg(np.arcsin(x))


def write_exoplasim(path: Path, years: int = 2, ps_scale: float = 1.0, n_lev: int = 10) -> Path:
    import cftime

    path.parent.mkdir(parents=True, exist_ok=True)
    lat, lon = gaussian_latitudes(32), np.arange(64) * 5.625
    sigma = np.linspace(0.05, 0.975, n_lev)  # top down, as PlaSim writes its full levels
    times = [cftime.Datetime360Day(y, m, 15) for y in range(1, years + 1) for m in range(1, 13)]
    ps = ps_scale * 1000.0 * (1.0 + 0.02 * np.cos(np.deg2rad(lat))[:, None] * np.cos(np.deg2rad(lon))[None, :])  # hPa
    ps_t = np.repeat(ps[None], len(times), axis=0)
    p = sigma[None, :, None, None] * ps_t[:, None] * 100.0
    temperature, q, cloud, u, v = _columns(p, lat, lon)
    ts, asr, olr = _surface(ps_t * 100.0, lat, lon)
    dims3, dims4 = ("time", "lat", "lon"), ("time", "lev", "lat", "lon")
    ds = xr.Dataset({"ts": (dims3, ts.astype(np.float32), {"units": "K"}), "rst": (dims3, asr.astype(np.float32), {"units": "W/m2"}),
                     "rlut": (dims3, olr.astype(np.float32), {"units": "W/m2"}), "ps": (dims3, ps_t.astype(np.float32), {"units": "hPa"}),
                     "ta": (dims4, temperature.astype(np.float32), {"units": "K"}), "hus": (dims4, q.astype(np.float32), {"units": "kg/kg"}),
                     "cl": (dims4, cloud.astype(np.float32), {"units": "1"}), "ua": (dims4, u.astype(np.float32), {"units": "m/s"}),
                     "va": (dims4, v.astype(np.float32), {"units": "m/s"})},
                    coords={"time": times, "lat": ("lat", lat, {"units": "degrees_north"}), "lon": ("lon", lon, {"units": "degrees_east"}),
                            "lev": ("lev", sigma, {"standard_name": "atmosphere_sigma_coordinate", "formula_terms": "sigma: lev ps: ps"})})
    ds.to_netcdf(path, encoding={"time": {"units": "days since 0001-01-01", "calendar": "360_day"}})
    return path


def write_cf(path: Path) -> Path:
    """A pressure-level file that says everything in CF attributes (standard_name, axis): no mapping needed."""
    import cftime

    lat, lon = np.linspace(-87.5, 87.5, 36), np.arange(72) * 5.0
    plev = np.array([90000.0, 70000.0, 50000.0, 30000.0, 10000.0])
    p = np.broadcast_to(plev[:, None, None], (5, 36, 72))
    temperature, q, cloud, u, v = _columns(p, lat, lon)
    ts, asr, olr = _surface(np.full((36, 72), 1e5), lat, lon)
    times = [cftime.DatetimeNoLeap(1, m, 15) for m in (1, 2, 3)]
    def std(name, units):  # noqa: E306
        return {"standard_name": name, "units": units}
    dims3, dims4 = ("t", "y", "x"), ("t", "z", "y", "x")
    rep3, rep4 = (lambda a: np.repeat(a[None], 3, 0).astype(np.float32)), (lambda a: np.repeat(a[None], 3, 0).astype(np.float32))
    ds = xr.Dataset({"tas_s": (dims3, rep3(ts), std("surface_temperature", "K")), "sw": (dims3, rep3(asr), std("toa_net_downward_shortwave_flux", "W m-2")),
                     "lw": (dims3, rep3(olr), std("toa_outgoing_longwave_flux", "W m-2")), "air": (dims4, rep4(temperature), std("air_temperature", "K")),
                     "hum": (dims4, rep4(q), std("specific_humidity", "1")), "cld": (dims4, rep4(cloud), std("cloud_area_fraction_in_atmosphere_layer", "1")),
                     "uwnd": (dims4, rep4(u), std("eastward_wind", "m s-1")), "vwnd": (dims4, rep4(v), std("northward_wind", "m s-1"))},
                    coords={"t": ("t", times, {"axis": "T"}), "y": ("y", lat, {"axis": "Y", "units": "degrees_north"}),
                            "x": ("x", lon, {"axis": "X", "units": "degrees_east"}), "z": ("z", plev, {"axis": "Z", "standard_name": "air_pressure", "units": "Pa"})})
    ds.to_netcdf(path, encoding={"t": {"units": "days since 0001-01-01", "calendar": "noleap"}})
    return path
