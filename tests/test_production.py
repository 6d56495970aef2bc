"""Phase 5, production: ONNX parity, int8 within its stated delta, the benchmark record, the model card,
and `astrotrain predict` (every input planet gets a row; the ONNX path never imports torch)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import NASA_SNAPSHOT, cli_env, needs_nasa_snapshot, run_astrotrain, run_cli, smoke_args

PHASE = Path("phases") / "5-production"
TRAPPIST_1E = {"pl_name": "TRAPPIST-1 e", "pl_orbper": "6.101013", "pl_rade": "0.92", "pl_bmasse": "0.692", "pl_insol": "0.646",
               "st_teff": "2566", "st_rad": "0.1192", "st_mass": "0.0898", "pl_orbsmax": "0.02925"}


def production(run: Path) -> dict:
    return json.loads((run / PHASE / "metrics.json").read_text())


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_onnx_exports_compute_what_pytorch_computes_on_held_out_planets(smoke_pipeline):
    import onnxruntime as ort
    import torch

    from astrotrain.api import load_run
    from astrotrain.components.production.model import FusionFromParameters
    from astrotrain.data.features import parameter_features

    metrics = production(smoke_pipeline)
    assert set(metrics["parity"]) == {"surrogate", "fast_surrogate", "fusion"}
    for outputs in metrics["parity"].values():
        for record in outputs.values():
            assert record["ok"] and record["max_abs_error"] <= 1e-4 * record["max_abs_reference"] + 1e-5
    # and independently of the recorded check: fusion rebuilt from its checkpoint vs the exported graph, on 64 planets
    run = load_run(smoke_pipeline)
    fusion = run.fusion()
    model = FusionFromParameters(fusion.module.model, fusion.modalities.index("parameters")).eval()
    x = parameter_features(run.universe().parameters.iloc[:64])
    with torch.inference_mode():
        expected = [t.numpy() for t in model(torch.from_numpy(x))]
    session = ort.InferenceSession(str(smoke_pipeline / PHASE / "export" / "fusion.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"features": x})
    for e, g in zip(expected, got):
        assert g.shape == e.shape and np.abs(g - e).max() <= 1e-4 * np.abs(e).max() + 1e-5
    assert np.allclose(got[0].sum(axis=1), 1.0, atol=1e-5)  # probabilities
    # a dynamic batch axis: one planet and 64 planets through the same graph agree row by row
    assert np.allclose(session.run(None, {"features": x[:1]})[1], got[1][:1], atol=1e-6)


def test_int8_models_stay_within_the_stated_accuracy_delta(smoke_pipeline):
    metrics = production(smoke_pipeline)
    test = metrics["test"]
    for name in ("surrogate", "fast_surrogate"):
        delta = test[f"{name}_onnx_int8_surface_temperature_rmse_K"] - test[f"{name}_onnx_surface_temperature_rmse_K"]
        assert metrics["int8"][name]["surface_temperature_rmse_increase_K"] == pytest.approx(delta)
        assert delta <= 0.5, (name, delta)  # components.production.int8_max_rmse_increase_K
        assert test[f"{name}_torch_surface_temperature_rmse_K"] == pytest.approx(test[f"{name}_onnx_surface_temperature_rmse_K"], rel=1e-4)
    # fusion: the smoke test split is ~24 planets (one planet = 4 points), so compare on every planet of the universe
    import onnxruntime as ort

    from astrotrain.api import load_run
    from astrotrain.data.features import parameter_features

    universe = load_run(smoke_pipeline).universe()
    x, states = parameter_features(universe.parameters), universe.parameters["climate_state"].to_numpy()
    accuracy = {}
    for name in ("fusion.onnx", "fusion.int8.onnx"):
        session = ort.InferenceSession(str(smoke_pipeline / PHASE / "export" / name), providers=["CPUExecutionProvider"])
        accuracy[name] = (session.run(None, {"features": x})[0].argmax(axis=1) == states).mean()
    assert len(x) >= 150 and accuracy["fusion.onnx"] - accuracy["fusion.int8.onnx"] <= 0.02, accuracy  # int8_max_accuracy_drop
    export = smoke_pipeline / PHASE / "export"
    assert (export / "fusion.int8.onnx").stat().st_size < (export / "fusion.onnx").stat().st_size  # int8 weights: a smaller file


def test_the_distilled_surrogate_learns_from_its_teacher_and_the_benchmark_compares_with_clero(smoke_pipeline):
    metrics = production(smoke_pipeline)
    losses = metrics["distillation"]["loss_per_epoch"]
    assert losses[-1] < 0.5 * losses[0]
    surrogate = json.loads((smoke_pipeline / "phases" / "1-pretrain" / "surrogate" / "metrics.json").read_text())["test"]
    train_mean = surrogate["baseline_train_mean_surface_temperature_rmse_K"]
    assert metrics["test"]["fast_surrogate_onnx_surface_temperature_rmse_K"] < 0.5 * train_mean  # it learnt the climate, not the mean
    timings = metrics["benchmark"]
    assert set(timings) == {f"{m}/{b}" for m in ("surrogate", "fast_surrogate", "fusion") for b in ("torch", "onnx", "onnx-int8")} | {"clero"}
    for name, t in timings.items():
        assert 0 < t["p50_ms"] <= t["p95_ms"] and t["best_planets_per_s"] == max(t["planets_per_s"].values())
    clero = timings["clero"]
    for name, factor in metrics["speedup_over_clero"].items():
        assert factor["best_batch"] == pytest.approx(timings[name]["best_planets_per_s"] / clero["best_planets_per_s"], rel=0.01)
        assert factor["batch_1"] == pytest.approx(clero["p50_ms"] / timings[name]["p50_ms"], rel=0.01)


def test_the_model_card_states_use_data_domain_metrics_limits_and_reproduction(smoke_pipeline):
    card = (smoke_pipeline / PHASE / "MODEL_CARD.md").read_text()
    for section in ("## Intended use", "## Training data and provenance", "## Validity domain", "## Metrics", "## Speed",
                    "## ONNX parity and int8", "## Known limits", "## How to reproduce"):
        assert section in card, section
    test = production(smoke_pipeline)["test"]
    assert f"{test['fusion_onnx_accuracy']:.4g} [" in card  # the figure with its bootstrap interval
    manifest = json.loads((smoke_pipeline / PHASE / "export" / "manifest.json").read_text())
    assert manifest["source_run"] == str(smoke_pipeline.resolve()) and len(manifest["atmospheres"]["CO2"]) == 2


@needs_nasa_snapshot
def test_predict_gives_every_planet_of_the_nasa_snapshot_a_row_and_onnx_agrees_with_torch(tmp_path, smoke_pipeline):
    rows_in = sum(1 for line in NASA_SNAPSHOT.open() if line.strip() and not line.startswith("#")) - 1
    tables = {}
    for backend in ("onnx", "torch"):
        out = tmp_path / f"{backend}.csv"
        res = run_astrotrain(["predict", "--run", str(smoke_pipeline), "--input", str(NASA_SNAPSHOT), "--backend", backend, "--output", str(out)],
                             cwd=tmp_path, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        with open(out) as handle:
            tables[backend] = list(csv.DictReader(handle))
    table = tables["onnx"]
    assert len(table) == rows_in == 5766
    assert [int(r["rank"]) for r in table] == list(range(1, rows_in + 1))
    for row in table:
        predicted = row["habitable_fraction"] != ""
        assert predicted == (row["status"] in ("ok", "outside core domain (extrapolated)")), row
        if predicted:
            assert 0 <= float(row["habitable_fraction"]) <= 1 and float(row["habitable_fraction_sd"]) > 0 and row["climate_state"]
        else:
            assert row["status"].startswith(("rejected: ", "outside extended domain")), row
        if row["status"] != "ok" and not row["status"].startswith("rejected"):
            assert " core m" in row["domain_flags"]  # names the input and the bound: "F_star=2.92e+03 W m-2 > core max 1.5e+03"
    inside = [r for r in table if r["status"] == "ok"]
    assert inside and inside == table[:len(inside)]  # the core domain ranks first, by habitable fraction
    assert [float(r["habitable_fraction"]) for r in inside] == sorted((float(r["habitable_fraction"]) for r in inside), reverse=True)
    assert "TRAPPIST-1 e" in {r["pl_name"] for r in inside}
    by_name = {r["pl_name"]: r for r in tables["torch"]}
    for row in inside:
        assert float(by_name[row["pl_name"]]["habitable_fraction"]) == pytest.approx(float(row["habitable_fraction"]), abs=1e-4)
    report = (smoke_pipeline / "report.html").read_text()
    assert "Predictions: PSCompPars_2024-10-15" in report and "surface_temperature_top_candidates.png" in report


def test_the_onnx_path_of_predict_never_imports_torch(tmp_path, smoke_pipeline):
    planets = write_csv(tmp_path / "planets.csv", [TRAPPIST_1E, {**TRAPPIST_1E, "pl_name": "hot one", "pl_insol": "400"}])
    code = ("import sys; from astrotrain.cli import main; rc = main(['predict', '--run', sys.argv[1], '--input', sys.argv[2], "
            "'--backend', 'onnx-int8']); assert rc == 0; loaded = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')); "
            "print('TORCH', loaded)")
    res = subprocess.run([sys.executable, "-c", code, str(smoke_pipeline), str(planets)], cwd=tmp_path, env=cli_env(), capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "TORCH []" in res.stdout
    with open(smoke_pipeline / PHASE / "predictions" / "planets" / "predictions.csv") as handle:
        rows = {r["pl_name"]: r for r in csv.DictReader(handle)}
    assert rows["TRAPPIST-1 e"]["status"] == "ok" and rows["TRAPPIST-1 e"]["imputed"] == ""
    assert rows["hot one"]["status"] == "outside extended domain: not predicted" and "F_star=5.44e+05" in rows["hot one"]["domain_flags"]


def test_predict_flags_bad_values_per_row_and_refuses_bad_files_and_runs(tmp_path, smoke_pipeline):
    columns = list(TRAPPIST_1E)
    bad_value = write_csv(tmp_path / "bad_value.csv", [TRAPPIST_1E, {**TRAPPIST_1E, "pl_name": "typo", "st_teff": "cold"},
                                                       {**TRAPPIST_1E, "pl_name": "no radius", "pl_rade": "", "pl_bmasse": ""}], columns)
    res = run_astrotrain(["predict", "--run", str(smoke_pipeline), "--input", str(bad_value), "--output", str(tmp_path / "out.csv")], cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    with open(tmp_path / "out.csv") as handle:
        rows = {r["pl_name"]: r for r in csv.DictReader(handle)}
    assert set(rows) == {"TRAPPIST-1 e", "typo", "no radius"}  # never silently dropped
    assert rows["typo"]["input_issues"] == "st_teff='cold' is not a number (treated as missing)"
    assert rows["typo"]["status"].startswith("rejected: no st_teff") and rows["typo"]["habitable_fraction"] == ""
    assert rows["no radius"]["status"] == "rejected: neither pl_rade nor pl_bmasse"

    missing = write_csv(tmp_path / "missing.csv", [{k: v for k, v in TRAPPIST_1E.items() if k != "st_teff"}])
    res = run_astrotrain(["predict", "--run", str(smoke_pipeline), "--input", str(missing)], cwd=tmp_path)
    assert res.returncode == 2 and "lacks required columns ['st_teff']" in res.stderr and "Traceback" not in res.stderr
    assert not (smoke_pipeline / PHASE / "predictions" / "missing").exists()

    phase_1 = smoke_pipeline / "phases" / "1-pretrain" / "surrogate"
    res = run_astrotrain(["predict", "--run", str(phase_1), "--input", str(bad_value)], cwd=tmp_path)
    assert res.returncode == 2 and "no finished production phase" in res.stderr
    res = run_astrotrain(["predict", "--run", str(smoke_pipeline), "--catalog", "nasa"], cwd=tmp_path)
    assert res.returncode == 2 and "astrotrain data fetch nasa" in res.stderr


def test_production_alone_refuses_a_run_without_a_finished_fusion_phase_and_writes_nothing(tmp_path, data_cache, smoke_pipeline):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.yaml").write_text((smoke_pipeline / "config.yaml").read_text())
    res = run_cli(smoke_args(tmp_path, data_cache, "--component", "production", f"components.production.source={unfinished}"), cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "fusion" in res.stderr and str(unfinished) in res.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
