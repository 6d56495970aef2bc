"""`python -m benchmarks --quick`: every section of BENCHMARKS.md runs, and what it compares is the same
computation on both sides (no timing is asserted: benchmarks are measurements, not tests)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, cli_env


@pytest.mark.slow
def test_every_benchmark_section_runs_and_compares_like_with_like(tmp_path):
    env = cli_env()
    env["PYTHONPATH"] = f"{ROOT}:{env['PYTHONPATH']}"
    res = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--results-dir", str(tmp_path)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    markdown = (tmp_path / "BENCHMARKS.md").read_text()
    headings = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert [h.split(".")[0] for h in headings] == [f"## {i}" for i in range(1, 11)]
    assert "| cores |" in markdown and "| date |" in markdown
    (raw,) = tmp_path.glob("results-*.json")
    results = json.loads(raw.read_text())

    # 4: the vectorised generators compute what the per-planet references compute
    stages = results["generation"]["stages"]
    assert stages["evolution_max_abs_dT_K"] < 1e-3 and stages["evolution_ok"] == stages["planets"]
    assert stages["spectra_max_rel_diff"] < 1e-9
    # 3: ONNX Runtime and int8 hold the accuracy of PyTorch on the same planets
    timings = results["physics_speed"]["surrogate"]["timings"]
    for model in ("surrogate transformer", "fast surrogate (distilled MLP)"):
        torch_rmse = timings[f"{model} / PyTorch"]["surface_temperature_rmse_K"]
        assert timings[f"{model} / ONNX Runtime"]["surface_temperature_rmse_K"] == pytest.approx(torch_rmse, abs=1e-3)
        assert abs(timings[f"{model} / ONNX int8"]["surface_temperature_rmse_K"] - torch_rmse) < 0.5
    # 7: the FLOP count of a training step is the model's, not zero; 6: both DDP runs trained and were evaluated
    assert results["mfu"]["surrogate"]["flops_per_step"] > 1e8 and results["mfu"]["datacube"]["flops_per_step"] > 1e9
    assert all(r["test"] > 0 for r in results["scaling"]["ddp"].values())
    # 8: the streamed points streamed and the compared point read in memory; the ingest wrote a cube
    streaming = results["streaming"]
    assert {r["read"] for r in streaming["streamed"].values()} == {"chunks"}
    assert {c["in_memory"]["read"] for c in streaming["compared"].values()} == {"in memory"}
    assert streaming["ingest"]["zarr_bytes"] > 0 and streaming["ingest"]["files"] == 12
    # 9: four retrievals trained and were tested with their calibration; the sampler ran on the flow's planets
    retrieval = results["retrieval"]
    assert set(retrieval["runs"]) == {f"{p}/{i}" for p in ("gaussian", "flow") for i in ("future_1ppm", "jwst_nirspec_prism")}
    assert all({"r2_radius", "hpd_coverage_95", "tarp_coverage_95", "biosphere_roc_auc"} <= set(m) for m in retrieval["runs"].values())
    assert retrieval["sampler"]["planets"] == 2 and retrieval["sampler"]["emcee_evaluations"] == 32 * 300
    # 10: the fine-tuned run started from the pretrained one; both arms scored on the same held-out runs of the other model
    transfer = results["transfer"]
    assert transfer["10"]["lineage"] == "init_from" and transfer["held_out_runs"] == 10
    # the other model differs from CLERO by the documented change: its 3 K warm bias is a floor of that RMSE
    assert transfer["systematic_change_rmse_K"] >= 3.0
    assert all(np.isfinite(transfer["10"][k]) for k in ("fine_tuned_rmse_K", "scratch_rmse_K", "scratch_longer_rmse_K"))
