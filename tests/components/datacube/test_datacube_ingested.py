"""User data through the same door: a CAM run's monthly files at its native 46 × 72 grid → `astrotrain
data ingest` (hybrid levels to σ, planet parameters from a sidecar table) → the datacube U-Net and the
surrogate; and the same end to end for ROCKE-3D (σ below a model top, 46 × 72) and ExoPlaSim (σ, a T21
Gaussian grid) runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, SMOKE, run_cli, smoke_args
from tests.gcm_conventions import write_cam, write_exoplasim, write_rocke3d

MAPPING = ROOT / "config" / "gcm_mappings" / "exocam.yaml"
N_TIME, N_LAT, N_LON = 4, 46, 72


def sidecar(path: Path, n: int) -> Path:
    rows = ["run,T_star,F_star [S_earth],radius,gravity [cm s-2],P_rot,P0 [hPa],CO2,CH4"]
    rows += [f"planet{i},{3300 + 100 * i},{0.6 + 0.05 * i},1.0,{980 + 10 * i},{10 + i},{1000 * (0.8 + 0.1 * i)},1e-3,1e-6" for i in range(n)]
    path.write_text("\n".join(rows) + "\n")
    return path


def ingest(tmp_path: Path, n_planets: int, parameters: bool = True) -> list[str]:
    """`astrotrain data ingest` of one CAM run (its monthly files, a glob) per planet; the datacube folders."""
    from astrotrain.cli import main

    table = sidecar(tmp_path / "planets.csv", n_planets)
    outs = []
    for i in range(n_planets):
        write_cam(tmp_path / f"case{i}", case=f"planet{i}", years=1, months=N_TIME, ps_scale=0.8 + 0.1 * i, contrast=1.0 + 0.05 * i)
        out = tmp_path / "gcm" / f"planet{i}"
        args = ["data", "ingest", str(tmp_path / f"case{i}" / "*.cam.h0.*.nc"), "--mapping", str(MAPPING), "--out", str(out),
                "--config", str(SMOKE), "--no-progress", *(["--parameters", str(table)] if parameters else [])]
        assert main(args) == 0
        outs.append(str(out))
    return outs


@pytest.mark.slow
def test_ingested_cam_runs_train_the_datacube_at_their_native_grid(tmp_path):
    cubes = ingest(tmp_path, 8)
    args = smoke_args(tmp_path, tmp_path / "no-universe", "--component", "datacube", "--physics-constraints",
                      f"components.datacube.datacubes={json.dumps(cubes)}", "components.datacube.max_epochs=40",
                      "components.datacube.batch_size=2", "components.datacube.depth=2", "components.datacube.lr=0.02")
    res = run_cli(args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (run,) = (tmp_path / "runs").iterdir()
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert len([k for k in test if k.startswith("temperature_rmse_level")]) == 10  # CLERO's ten σ levels
    assert test["q_negative_pred"] == 0.0 and test["cloud_outside_pred"] == 0.0
    assert test["temperature_rmse"] < 0.5 * test["temperature_rmse_train_mean"]
    assert np.isfinite(test["supersaturated_share_pred"]) and np.isfinite(test["unstable_share_pred"])
    provenance = json.loads((run / "provenance.json").read_text())
    assert provenance["data"]["universe"] is None and not (tmp_path / "no-universe").exists()
    assert [Path(s["path"]).name for s in provenance["data"]["sources"]] == [f"planet{i}" for i in range(8)]
    assert all(s["model"] == "ExoCAM" and len(s["source_sha256"]) == N_TIME for s in provenance["data"]["sources"])  # one hash per file


def test_ingested_cubes_carry_sigma_levels_their_surface_pressure_weights_and_parameters(tmp_path):
    import torch

    from astrotrain.components.datacube.config import DatacubeConfig
    from astrotrain.components.datacube.module import per_planet_air
    from astrotrain.components.datacube.sources import ingested_source
    from astrotrain.data.features import parameter_features

    cubes = ingest(tmp_path, 2)
    source = ingested_source(cubes, DatacubeConfig())
    from clero.climate_analysis import pressure_levels

    np.testing.assert_allclose(source.pressure[0], pressure_levels(1.0) / 1e5)  # σ, bottom first
    t = source.targets["temperature"].rows(np.arange(2))  # read lazily, row by row
    assert t.shape == (2, N_TIME, 10, N_LAT, N_LON) and np.all(t[:, :, 0] > t[:, :, -1])
    surface_pressure = source.surface_pressure.rows(np.arange(2))
    assert surface_pressure.shape == (2, N_TIME, N_LAT, N_LON)
    np.testing.assert_allclose(surface_pressure[1].mean() / surface_pressure[0].mean(), 0.9 / 0.8, rtol=1e-3)
    # the physics sees each column's real pressure: σ × its surface pressure
    batch = {"pressure": torch.from_numpy(source.pressure[:1].astype(np.float32)), "surface_pressure": torch.from_numpy(surface_pressure[:1, 0]),
             "epsilon": torch.ones(1), "kappa": torch.ones(1)}
    p = per_planet_air(batch)[0]
    np.testing.assert_allclose(p[0, 3].numpy(), source.pressure[0, 3] * surface_pressure[0, 0], rtol=1e-6)
    # CAM's gw: a pole point has half a cell
    np.testing.assert_allclose(source.area_weights.sum(), 1.0, rtol=1e-12)
    assert source.area_weights[0, 0] < 0.6 * source.area_weights[1, 0] and source.area_weights[23, 0] > 10 * source.area_weights[0, 0]
    # the sidecar's parameters, in astrotrain units (S⊕ → W m-2, cm s-2 → m s-2, hPa → bar), are FiLM's features
    expected = parameter_features(__import__("pandas").DataFrame([{"T_star": 3400.0, "F_star": 0.65 * 1361, "radius": 1.0, "gravity": 9.9,
                                                                   "P_rot": 11.0, "P0": 0.9, "CO2": 1e-3, "CH4": 1e-6}]))[0]
    np.testing.assert_allclose(source.features[1], expected, rtol=1e-6)


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


def test_the_surrogate_learns_parameters_to_maps_from_gcm_runs_split_by_run(tmp_path):
    """Parameters → Ts/ASR/OLR maps on the runs' own 46 × 72 grid: every month a sample, the split by run
    (no month of a held-out run is trained on), labels from the fields with the grid's cell areas."""
    from astrotrain.components.surrogate.data import SurrogateDataModule
    from astrotrain.config.schema import SplitConfig

    cubes = ingest(tmp_path, 8)
    dm = SurrogateDataModule(None, n_components=4, batch_size=4, split=SplitConfig(train=0.625, val=0.125, test=0.25), datacubes=cubes)
    dm.setup()
    runs = {name: set((idx // N_TIME).tolist()) for name, idx in dm.indices.items()}
    assert sum(len(r) for r in runs.values()) == 8 and not (runs["train"] & runs["test"]) and not (runs["val"] & runs["test"])
    assert all(len(idx) == N_TIME * len(runs[name]) for name, idx in dm.indices.items())
    assert dm.datasets["train"].tensors["maps"].shape[1:] == (3, N_LAT * N_LON)
    assert dm.grid["nightside"].sum() > 0.3 * N_LAT * N_LON  # the unlit half of the tidally locked runs
    res = run_cli(smoke_args(tmp_path, tmp_path / "no-universe", "--component", "surrogate", f"components.surrogate.datacubes={json.dumps(cubes)}",
                             "components.surrogate.n_components=4", "trainer.max_epochs=30", "components.surrogate.mlp_baseline_epochs=5"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["test"]
    assert test["surface_temperature_rmse_K"] < 0.5 * test["baseline_train_mean_surface_temperature_rmse_K"]
    provenance = json.loads((run / "provenance.json").read_text())
    assert provenance["data"]["universe"] is None and len(provenance["data"]["sources"]) == 8


def ingest_other(tmp_path: Path, convention: str, n_runs: int) -> list[str]:
    """ROCKE-3D (aij + aijk files) or ExoPlaSim (one postprocessed file) runs of different surface pressures."""
    from astrotrain.cli import main

    table = sidecar(tmp_path / "planets.csv", n_runs)
    outs = []
    for i in range(n_runs):
        folder, scale = tmp_path / f"{convention}{i}", 0.7 + 0.12 * i
        if convention == "rocke3d":
            write_rocke3d(folder, run=f"r{i}", ps_scale=scale)
            pattern = str(folder / "*.nc")
        else:
            pattern = str(write_exoplasim(folder / "MOST.nc", years=1, ps_scale=scale))
        out = tmp_path / "gcm" / f"planet{i}"
        assert main(["data", "ingest", pattern, "--mapping", str(ROOT / "config" / "gcm_mappings" / f"{convention}.yaml"), "--out", str(out),
                     "--config", str(SMOKE), "--no-progress", "--parameters", str(table), "--time", "monthly"]) == 0
        outs.append(str(out))
    return outs


@pytest.mark.slow
@pytest.mark.parametrize("convention", ["rocke3d", "exoplasim"])
def test_rocke3d_and_exoplasim_runs_train_the_datacube_and_the_surrogate_end_to_end(tmp_path, convention):
    cubes = ingest_other(tmp_path, convention, 8)
    for component, extra in (("datacube", ["components.datacube.max_epochs=40", "components.datacube.batch_size=4", "components.datacube.depth=2",
                                           "components.datacube.lr=0.02"]),
                             ("surrogate", ["components.surrogate.n_components=4", "trainer.max_epochs=25", "components.surrogate.mlp_baseline_epochs=0"])):
        res = run_cli(smoke_args(tmp_path / component, tmp_path / "no-universe", "--component", component,
                                 f"components.{component}.datacubes={json.dumps(cubes)}", *extra), cwd=tmp_path)
        assert res.returncode == 0, res.stderr[-3000:]
        (run,) = (tmp_path / component / "runs").iterdir()
        test = json.loads((run / "metrics.json").read_text())["test"]
        if component == "datacube":
            assert test["temperature_rmse"] < 0.5 * test["temperature_rmse_train_mean"], test
        else:
            assert test["surface_temperature_rmse_K"] < 0.5 * test["baseline_train_mean_surface_temperature_rmse_K"], test
        sources = json.loads((run / "provenance.json").read_text())["data"]["sources"]
        assert {s["model"] for s in sources} == {"ROCKE-3D" if convention == "rocke3d" else "ExoPlaSim"} and len(sources) == 8
    assert not (tmp_path / "no-universe").exists()
