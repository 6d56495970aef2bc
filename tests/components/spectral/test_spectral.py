"""The spectral component end to end: training on the smoke universe, observed spectra, bad spectra."""

from __future__ import annotations

import json

import numpy as np
import pytest

from astrotrain.components.spectral.instrument import Instrument
from astrotrain.components.spectral.observed import bin_to_instrument, read_spectrum
from astrotrain.errors import UserError
from tests.conftest import run_cli, smoke_args

INSTRUMENT = Instrument("t", 0.5, 20.0, 100.0, 1.0)


def write_spectrum(path, wavelength, depth=None, error=None, header="# T_star: 3300\n# gravity: 9.8\n"):
    depth = np.full(len(wavelength), 1e-3) if depth is None else depth
    error = np.full(len(wavelength), 5e-6) if error is None else error
    rows = "\n".join(f"{float(w)!r},{float(d)!r},{float(e)!r}" for w, d, e in zip(wavelength, depth, error))
    path.write_text(header + "wavelength,depth,error\n" + rows + "\n")
    return path


def test_observed_spectrum_is_binned_by_inverse_variance(tmp_path):
    w = np.exp(np.linspace(np.log(0.5), np.log(20.0), 3000))
    depth = 1e-3 + 1e-5 * np.sin(w)
    spec = read_spectrum(write_spectrum(tmp_path / "s.csv", w, depth))
    assert spec.context == {"T_star": 3300.0, "gravity": 9.8}
    binned, sigma = bin_to_instrument(spec, INSTRUMENT)
    assert binned.shape == INSTRUMENT.wavelength.shape
    counts = np.bincount(np.searchsorted(INSTRUMENT.edges, w, side="right") - 1, minlength=len(binned) + 1)[: len(binned)]
    np.testing.assert_allclose(sigma, 5e-6 / np.sqrt(counts))  # equal errors: σ / √n
    np.testing.assert_allclose(binned, 1e-3 + 1e-5 * np.sin(INSTRUMENT.wavelength), atol=2e-7)


@pytest.mark.parametrize(
    "case, message",
    [
        ("nan", r"depth is not a finite number in data row 3"),
        ("unsorted", r"wavelengths must increase strictly, but row 5"),
        ("negative", r"error must be > 0, got -1e-06 in data row 2"),
        ("elsewhere", r"covers 25-29 µm, which does not overlap the model's 0.5-20 µm"),
        ("partial", r"leaves \d+ of the model's \d+ bins empty"),
        ("header", r"lacks a numeric 'gravity'"),
        ("columns", r"lacks the column\(s\) \['error'\]"),
        ("text", r"wavelength is not a finite number in data row 2"),
        ("noise", r"typical error of 57.7 ppm per bin, but the model is trained at 1 ppm .*noise_ppm=57.7 and retrain"),
        ("star", r"T_star = 9000 is outside the range the model was trained on \[2500, 5800\]"),
        ("masked", r"depth is not a finite number in data row 4"),
    ],
)
def test_bad_observed_spectra_name_the_file_and_the_fix(tmp_path, case, message):
    w = np.exp(np.linspace(np.log(0.5), np.log(20.0), 1000))
    path = tmp_path / f"{case}.csv"
    if case == "nan":
        d = np.full(len(w), 1e-3)
        d[2] = np.nan
        write_spectrum(path, w, d)
    elif case == "unsorted":
        write_spectrum(path, np.r_[w[:4], w[2], w[5:]])
    elif case == "negative":
        e = np.full(len(w), 5e-6)
        e[1] = -1e-6
        write_spectrum(path, w, error=e)
    elif case == "elsewhere":
        write_spectrum(path, np.linspace(25, 29, 50))
    elif case == "partial":
        write_spectrum(path, w[w < 5.0])
    elif case == "header":
        write_spectrum(path, w, header="# T_star: 3300\n")
    elif case == "noise":
        write_spectrum(path, w, error=np.full(len(w), 1e-4))
    elif case == "star":
        write_spectrum(path, w, header="# T_star: 9000\n# gravity: 9.8\n")
    elif case == "masked":  # an ECSV table with a missing cell
        from astropy.table import MaskedColumn, Table

        path = tmp_path / "masked.ecsv"
        depth = MaskedColumn(np.full(len(w), 1e-3), mask=np.arange(len(w)) == 3)
        Table({"wavelength": w, "depth": depth, "error": np.full(len(w), 5e-6)}, meta={"T_star": 3300, "gravity": 9.8}).write(path, format="ascii.ecsv")
    elif case == "text":
        path.write_text("# T_star: 3300\n# gravity: 9.8\nwavelength,depth,error\n1.0,1e-3,1e-6\nabc,1e-3,1e-6\n")
    elif case == "columns":
        path.write_text("# T_star: 3300\n# gravity: 9.8\nwavelength,depth\n1.0,1e-3\n")
    with pytest.raises(UserError, match=message) as info:
        bin_to_instrument(read_spectrum(path), INSTRUMENT)
    assert str(path) in str(info.value)


def test_bad_observed_file_exits_2_before_any_run_is_written(tmp_path, data_cache):
    bad = write_spectrum(tmp_path / "bad.csv", np.linspace(25, 29, 50))
    res = run_cli(smoke_args(tmp_path, data_cache, "--component", "spectral", f"components.spectral.observed=[{bad}]"), cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert "does not overlap" in res.stderr and str(bad) in res.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_smoke_training_retrieves_abundances_and_an_observed_spectrum(tmp_path, data_cache):
    from astrotrain.components.spectral.data import planet_spectra
    from astrotrain.components.spectral.forward import OpacityTable
    from astrotrain.config.schema import UniverseConfig
    from astrotrain.universe.generate import ensure_universe

    # an "observation" of universe planet 0, on a finer grid than the instrument, with its context
    universe = ensure_universe(UniverseConfig(n_planets=240, cache_dir=str(data_cache)), progress=False)
    fine = Instrument("fine", 0.5, 20.0, 300.0, 1.0)
    depth = planet_spectra(universe, fine, OpacityTable.from_csv())[0]
    p = universe.parameters.iloc[0]
    observed = write_spectrum(tmp_path / "planet0.csv", fine.wavelength, depth, np.full(len(depth), 1.7e-6),
                              header=f"# T_star: {float(p['T_star'])!r}\n# gravity: {float(p['gravity'])!r}\n")
    res = run_cli(smoke_args(tmp_path, data_cache, "--component", "spectral", f"components.spectral.observed=[{observed}]"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (run,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["test"]
    for gas in ("CO2", "CH4", "H2O"):
        assert test[f"r2_{gas}"] > 0.75, (gas, test)  # 150 training planets, 15 epochs: 0.88-0.94 measured
    # σ scaled on the validation split, coverage measured on the test split
    assert 0.55 < test["coverage_68"] < 0.8 and 0.85 < test["coverage_95"] < 0.99
    controls = metrics["baselines"]
    assert test["biosphere_roc_auc"] > 0.8 and test["biosphere_roc_auc"] > controls["best_single_input_biosphere_roc_auc"] + 0.1
    assert abs(controls["shuffled_reference_biosphere_roc_auc"] - 0.5) < 0.2  # the shuffled-label reference at chance
    assert 0.4 < controls["majority_biosphere_accuracy"] < 0.7 and test["biosphere_accuracy"] > controls["majority_biosphere_accuracy"] + 0.15
    retrieval = json.loads((run / "observed_retrievals.json").read_text())["retrievals"][0]
    for gas in ("CO2", "CH4", "H2O"):  # the observed file's retrieval is within 2 calibrated σ of the truth
        truth = np.log10(max(universe.atmosphere.iloc[0][f"x_{gas}"], 1e-10))
        assert abs(retrieval["log10_abundance"][gas] - truth) < 2 * retrieval["sigma_dex"][gas], (gas, retrieval, truth)
    assert controls["observed_spectra_retrieved"] == 1.0


def test_unknown_instrument_and_bad_opacity_table_are_clear_errors(tmp_path):
    from astrotrain.components.spectral.forward import OpacityTable

    res = run_cli(["--validate-only", "--component", "spectral", "components.spectral.instrument=hubble"], cwd=tmp_path)
    assert res.returncode == 2
    assert "components.spectral" in res.stderr and "'hubble' is not among instruments" in res.stderr and "jwst_nirspec_prism" in res.stderr
    table = tmp_path / "opacities.csv"
    table.write_text("gas,centre_um,width_um,peak_cm2\nNH3,1.5,0.1,1e-21\n")
    with pytest.raises(UserError, match=r"unknown gases \['NH3'\]"):
        OpacityTable.from_csv(table)
    for row in ("CO2,4.3,0,1e-19", "CO2,4.3,0.1,strong", "CO2,4.3,,1e-19"):
        table.write_text(f"gas,centre_um,width_um,peak_cm2\n{row}\n")
        with pytest.raises(UserError, match=r"row 1: centre/width/peak missing, not a number or <= 0"):
            OpacityTable.from_csv(table)


@pytest.mark.slow
def test_spectral_resume_is_bitwise_exact_with_step_seeded_noise(tmp_path, data_cache):
    """The training noise is drawn from (seed, global step): a run stopped mid-epoch and resumed
    in a new process ends with the same weights and metrics as an uninterrupted one."""
    from astrotrain.runs.checkpoints import load_verified
    from tests.engine.test_training import assert_same_tree, step_losses, the_run

    short = ["--component", "spectral", "components.spectral.max_epochs=3", "trainer.checkpoint_every_n_steps=1"]
    assert run_cli(smoke_args(tmp_path / "full", data_cache, *short), cwd=tmp_path).returncode == 0
    stopped = run_cli(smoke_args(tmp_path / "split", data_cache, *short, "trainer.stop_after_steps=13"), cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    run = the_run(tmp_path / "split" / "runs")
    resumed = run_cli(["--resume", str(run), "trainer.stop_after_steps=null"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    full = the_run(tmp_path / "full" / "runs")
    a, b = load_verified(full / "checkpoints" / "last.ckpt"), load_verified(run / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"] == 27
    assert_same_tree(a["state_dict"], b["state_dict"], "state_dict")
    assert step_losses(full) == step_losses(run)
    assert json.loads((full / "metrics.json").read_text())["test"] == json.loads((run / "metrics.json").read_text())["test"]


CALIBRATION_TOLERANCE = {0.68: 0.10, 0.95: 0.05}
"""How far held-out coverage may sit from the level: 3 binomial σ on the 375 test planets of a
1,500-planet universe in the smoke split (0.072 at 68 %, 0.034 at 95 %) plus the over-confidence of a
flow trained on 937 planets for 20 epochs (HPD 0.60 / 0.92, intervals 0.66 / 0.92 measured)."""


@pytest.mark.slow
@pytest.mark.parametrize("posterior", ["gaussian", "flow"])
def test_posterior_coverage_on_held_out_planets_is_within_tolerance(tmp_path, data_cache, posterior):
    """The test split's coverage at 68 % and 95 %: central intervals for both heads (the Gaussian's σ is
    scaled on the validation split, the flow is not rescaled at all), and the joint HPD regions for the flow."""
    res = run_cli(smoke_args(tmp_path, data_cache, "--component", "spectral", "data.universe.n_planets=1500", f"components.spectral.posterior={posterior}",
                             "components.spectral.max_epochs=20", "components.spectral.batch_size=64", "components.spectral.width=16",
                             "components.spectral.hidden=128"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    test = json.loads((run / "metrics.json").read_text())["test"]
    kinds = ("coverage", "hpd_coverage") if posterior == "flow" else ("coverage",)
    for kind in kinds:
        for level, tolerance in CALIBRATION_TOLERANCE.items():
            covered = test[f"{kind}_{round(level * 100)}"]
            assert abs(covered - level) <= tolerance, (kind, level, covered)
    assert test["r2_CO2"] > 0.9 and test["r2_radius"] > 0.85, test  # and the posterior is informative: 0.97 and 0.95 measured
    assert {"posterior_calibration.png", "posterior_corner.png", "spectra_and_retrievals.png"} <= {p.name for p in (run / "plots").iterdir()}
