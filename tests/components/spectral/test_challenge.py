"""The Ariel Big Challenge format: reading files the tests write in that layout, bad files, and a
retrieval trained end to end on them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from astrotrain.components.spectral.challenge import TARGETS, TRACE_ORDER, read_challenge
from astrotrain.errors import UserError
from tests.components.spectral.challenge_files import GRID, draw_planets, spectra, write_challenge
from tests.conftest import run_cli, smoke_args


def test_reader_returns_what_the_files_hold(tmp_path):
    write_challenge(tmp_path, n=12, seed=3)
    data = read_challenge(tmp_path)
    truth = draw_planets(12, 3)
    assert data.planet_ids == [f"train{i + 1}" for i in range(12)]
    np.testing.assert_allclose(data.wavelength_um, GRID)
    np.testing.assert_allclose(data.spectrum, spectra(truth))
    np.testing.assert_allclose(data.targets, np.stack([truth[name] for name in TARGETS], axis=1))
    assert len(data.traces) == 12 and all(t.shape[1] == 7 and abs(w.sum() - 1) < 1e-12 for t, w in data.traces)
    # traces are reordered from the file's column order (R, T, gases) to the targets' (gases, T, R)
    import h5py

    with h5py.File(tmp_path / "Ground Truth Package" / "Tracedata.hdf5") as f:
        raw = f["Planet_train1"]["tracedata"][()]
    np.testing.assert_array_equal(data.traces[0][0], raw[:, [TRACE_ORDER.index(name) for name in TARGETS]])


def test_planets_without_a_usable_trace_keep_their_parameters(tmp_path):
    import h5py

    write_challenge(tmp_path, n=6)
    with h5py.File(tmp_path / "Ground Truth Package" / "Tracedata.hdf5", "a") as f:
        del f["Planet_train2"]
        f["Planet_train5"]["tracedata"][0, 0] = np.nan  # the challenge's placeholder for "no trace"
    data = read_challenge(tmp_path)
    assert [t is None for t in data.traces] == [False, True, False, False, True, False]
    from astrotrain.components.spectral.challenge import posterior_score, resample_traces

    draws = resample_traces(data.traces, data.targets, 8, seed=0)
    np.testing.assert_array_equal(draws[1], np.repeat(data.targets[1][None], 8, axis=0))
    assert np.isfinite(posterior_score(list(draws), data.traces))  # the planets without a trace are left out
    (tmp_path / "Ground Truth Package" / "FM_Parameter_Table.csv").unlink()
    with pytest.raises(UserError, match=r"no usable trace for planet train2.*no FM_Parameter_Table.csv"):
        read_challenge(tmp_path)


def test_the_pipeline_refuses_challenge_data_before_phase_1(tmp_path, data_cache):
    write_challenge(tmp_path / "abc", n=6)
    res = run_cli(smoke_args(tmp_path, data_cache, "--mode", "full", "components.spectral.dataset=ariel_abc",
                             f"components.spectral.challenge_dir={tmp_path / 'abc'}"), cwd=tmp_path)
    assert res.returncode == 2 and "keep dataset=universe in the pipeline" in res.stderr, res.stderr[-2000:]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_targets_from_traces_alone(tmp_path):
    write_challenge(tmp_path, n=6, table=False)
    data = read_challenge(tmp_path)
    assert data.targets is None and len(data.traces) == 6


@pytest.mark.parametrize(
    "case, message",
    [
        ("no_aux", r"lacks AuxillaryTable.csv"),
        ("no_targets", r"lacks FM_Parameter_Table.csv or Tracedata.hdf5 \(the targets\)"),
        ("grid", r"planet train3 is on another wavelength grid than planet train1"),
        ("missing_planet", r"has no group Planet_train2 for planet_ID train2"),
        ("noise", r"instrument_noise\[5\] of planet train4 is -1e-05; every value must be a finite number > 0"),
        ("aux_column", r"lacks the column\(s\) \['planet_surface_gravity'\]"),
    ],
)
def test_bad_challenge_files_name_the_file_and_the_fix(tmp_path, case, message):
    import h5py
    import pandas as pd

    write_challenge(tmp_path, n=6)
    spectra_file, aux_file = tmp_path / "SpectralData.hdf5", tmp_path / "AuxillaryTable.csv"
    if case == "no_aux":
        aux_file.unlink()
    elif case == "no_targets":
        for name in ("FM_Parameter_Table.csv", "Tracedata.hdf5"):
            (tmp_path / "Ground Truth Package" / name).unlink()
    elif case == "grid":
        with h5py.File(spectra_file, "a") as f:
            f["Planet_train3"]["instrument_wlgrid"][0] = 0.6
    elif case == "missing_planet":
        with h5py.File(spectra_file, "a") as f:
            del f["Planet_train2"]
    elif case == "noise":
        with h5py.File(spectra_file, "a") as f:
            f["Planet_train4"]["instrument_noise"][5] = -1e-5
    elif case == "aux_column":
        pd.read_csv(aux_file).drop(columns="planet_surface_gravity").to_csv(aux_file, index=False)
    with pytest.raises(UserError, match=message):
        read_challenge(tmp_path)


def test_ariel_dataset_without_a_directory_exits_2(tmp_path):
    res = run_cli(["--validate-only", "--component", "spectral", "components.spectral.dataset=ariel_abc"], cwd=tmp_path)
    assert res.returncode == 2 and "needs challenge_dir" in res.stderr, res.stderr
    res = run_cli(["--validate-only", "--component", "spectral", "components.spectral.dataset=ariel_abc", f"components.spectral.challenge_dir={tmp_path / 'nowhere'}"], cwd=tmp_path)
    assert res.returncode == 2 and "does not exist" in res.stderr and "nowhere" in res.stderr, res.stderr


@pytest.mark.slow
def test_flow_trains_on_challenge_files_and_beats_the_prior_on_the_challenge_score(tmp_path, data_cache):
    write_challenge(tmp_path / "abc", n=1200)
    res = run_cli(smoke_args(tmp_path, data_cache, "--component", "spectral", "components.spectral.dataset=ariel_abc",
                             f"components.spectral.challenge_dir={tmp_path / 'abc'}", "components.spectral.posterior=flow",
                             "components.spectral.max_epochs=25", "components.spectral.batch_size=64", "components.spectral.width=16",
                             "components.spectral.hidden=128"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    test, after = metrics["test"], metrics["baselines"]
    # measured: radius 0.999 (the white-light radius gives it away), H2O 0.74, CH4 0.82, T 0.76; score 492 vs the prior's 355
    assert test["r2_planet_radius"] > 0.99, test
    assert test["r2_H2O"] > 0.55 and test["r2_CH4"] > 0.6 and test["r2_planet_temp"] > 0.55, test
    assert "biosphere_roc_auc" not in test  # the challenge has no biosphere
    assert after["ariel_scored_planets"] == 300.0  # every test planet has its reference trace
    assert after["ariel_posterior_score"] > after["ariel_posterior_score_prior"] + 80, after
    assert {"posterior_calibration.png", "posterior_corner.png"} <= {p.name for p in (run / "plots").iterdir()}
