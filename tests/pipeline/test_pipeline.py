"""`--mode full`: the 5-phase pipeline on the smoke preset, its resume, fusion's ablation, the report."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import ROOT, cli_env, pipeline_args, report_path, run_cli, smoke_args

PHASES = ("1-pretrain", "2-integrate", "3-llm", "4-galactic", "5-production")
PRETRAINED = ("surrogate", "datacube", "graph_vae", "spectral", "evolution")


def fusion_test_metrics(run: Path) -> dict:
    return json.loads((run / "phases" / "2-integrate" / "metrics.json").read_text())["test"]


def test_smoke_pipeline_runs_the_five_phases_in_order(smoke_pipeline):
    status = json.loads((smoke_pipeline / "pipeline.json").read_text())["phases"]
    assert [status[p]["status"] for p in ("pretrain", "integrate", "llm", "galactic", "production")] == ["finished"] * 5
    assert all(status[p]["reason"] is None for p in status)
    for component in PRETRAINED:
        metrics = json.loads((smoke_pipeline / "phases" / "1-pretrain" / component / "metrics.json").read_text())
        assert metrics["component"] == component and metrics["test"]
    # phase 2 read phase 1: each modality names the pretrained run it borrowed
    normalisation = json.loads((smoke_pipeline / "phases" / "2-integrate" / "normalisation.json").read_text())
    assert {m: Path(v["pretrained_run"]).name for m, v in normalisation["modalities"].items()} == {
        "parameters": "surrogate", "spectrum": "spectral", "gases": "graph_vae"}
    # the gases fusion sees are the spectral run's retrieval, not the truth
    assert Path(normalisation["modalities"]["gases"]["inputs_from"]["spectral"]).name == "spectral"


def test_fusion_beats_its_controls_and_the_shuffled_label_fusion_scores_at_chance(smoke_pipeline):
    """The leakage audit on the smoke pipeline's 60 held-out planets: fusion on observed inputs beats the
    majority class and the best single observed input; the same fusion trained on shuffled labels, and
    the boosted reference on shuffled labels, sit at chance; no single input decides the biosphere."""
    audit = json.loads((smoke_pipeline / "phases" / "2-integrate" / "leakage_audit.json").read_text())
    test = fusion_test_metrics(smoke_pipeline)
    controls = audit["controls"]
    assert audit["modalities"] == ["parameters", "spectrum", "gases"] and audit["oracle_modalities"] is False
    assert controls["state"]["test_planets"] == 60
    # above the controls
    assert test["accuracy"] > controls["state"]["majority_baseline"]["accuracy"]
    assert test["biosphere_roc_auc"] > controls["biosphere"]["best_single_input"]["roc_auc"] + 0.03
    assert test["habitable_fraction_mae"] < controls["habitable"]["best_single_input"]["mae"]
    assert test["habitable_fraction_mae"] < 0.7 * controls["habitable"]["majority_baseline"]["mae"]
    # the shuffled-label runs are at chance: ROC-AUC within 0.2 of 0.5 (≈ 2.7 σ on 60 planets), accuracy no better than the majority's
    shuffled = audit["shuffled_label_fusion"]
    assert abs(shuffled["biosphere_roc_auc"] - 0.5) < 0.2 and shuffled["accuracy"] <= controls["state"]["majority_baseline"]["accuracy"] + 0.05
    assert test["biosphere_roc_auc"] > shuffled["biosphere_roc_auc"] + 0.25
    assert abs(controls["biosphere"]["shuffled_label_reference"]["roc_auc"] - 0.5) < 0.2
    # no single observed input separates the biosphere label
    assert audit["leak"] is False and controls["biosphere"]["best_single_input"]["roc_auc"] <= 0.95
    per_modality = controls["biosphere"]["best_single_input_per_modality"]
    assert set(per_modality) == {"parameters", "spectrum", "gases"} and all(v["roc_auc"] <= 0.95 for v in per_modality.values())


def test_fusion_refuses_unobservable_modalities_unless_asked_for_an_oracle(tmp_path, data_cache):
    res = run_cli(pipeline_args(tmp_path, data_cache, "components.multimodal.modalities=[parameters,climate]", "--validate-only"), cwd=tmp_path)
    assert res.returncode == 2 and "not observable" in res.stderr and "components.multimodal.oracle_modalities=true" in res.stderr
    res = run_cli(pipeline_args(tmp_path, data_cache, "components.multimodal.modalities=[parameters,climate]",
                                "components.multimodal.oracle_modalities=true", "--validate-only"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]


def test_ablation_has_every_subset_and_the_full_fusion_is_no_worse_than_any_single_modality(smoke_pipeline):
    rows = json.loads((smoke_pipeline / "phases" / "2-integrate" / "ablation.json").read_text())["rows"]
    modalities = ["parameters", "spectrum", "gases"]
    assert [r["subset"] for r in rows] == ["all"] + [f"without {m}" for m in modalities] + [f"only {m}" for m in modalities]
    assert all(len(r["modalities"]) == 2 for r in rows[1:4]) and all(len(r["modalities"]) == 1 for r in rows[4:])
    assert all(r["planets"] == 60 for r in rows)  # every row on the same planets
    full = rows[0]
    assert full["score"] == pytest.approx(fusion_test_metrics(smoke_pipeline)["score"], abs=1e-6)
    for single in rows[4:]:  # on 60 planets the margin to the best single modality is small: no worse by 0.02
        assert full["score"] > single["score"] - 0.02, (single["subset"], single["score"], full["score"])
    assert full["score"] > min(r["score"] for r in rows[4:]) + 0.05  # and clearly better than the weakest


def test_report_shows_every_phase_and_every_image_it_references_exists(smoke_pipeline):
    from astrotrain.report.html import referenced_images

    report = smoke_pipeline / "report.html"
    text = report.read_text()
    for phase in PHASES:
        assert phase in text
    assert "Resolved config" in text and "Provenance" in text and "MODEL_CARD.md" in text
    images = referenced_images(report)
    names = {p.name for p in images}
    for expected in ("surface_temperature_maps.png", "sampled_molecules.png", "spectra_and_retrievals.png", "confusion_matrix.png",
                     "calibration.png", "ablation.png", "phases_2-integrate_curves.png", "federated_vs_central.png", "observatory_validation.png", "throughput_vs_batch_size.png"):
        assert expected in names, expected
    for image in images:
        assert image.is_file() and image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", image
    for src in re.findall(r"<img[^>]*src='([^']+)'", text):  # relative links inside the run: the folder opens from anywhere
        assert not src.startswith("/") and ".." not in src and "://" not in src, src


def phase_one_fingerprint(run: Path) -> dict:
    return {p.relative_to(run).as_posix(): p.stat().st_mtime_ns for p in (run / "phases" / "1-pretrain").rglob("*.ckpt")}


def test_a_pipeline_stopped_in_phase_2_resumes_without_rerunning_phase_1_to_identical_metrics(tmp_path, data_cache, smoke_pipeline):
    phase_one_steps = sum(json.loads((smoke_pipeline / "phases" / "1-pretrain" / c / "metrics.json").read_text())["global_step"] for c in PRETRAINED)
    res = run_cli(pipeline_args(tmp_path, data_cache, "pipeline.phases=[pretrain,integrate]", f"trainer.stop_after_steps={phase_one_steps + 50}"),
                  cwd=tmp_path, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    run = report_path(res.stdout).parent
    status = json.loads((run / "pipeline.json").read_text())["phases"]
    assert status["pretrain"]["status"] == "finished" and status["integrate"]["status"] == "interrupted"
    assert not (run / "phases" / "2-integrate" / "metrics.json").exists() or "test" not in json.loads((run / "phases" / "2-integrate" / "metrics.json").read_text())
    assert (run / "report.html").is_file()  # an unfinished run has a report too
    before = phase_one_fingerprint(run)
    # 50 steps into phase 2 is inside freeze_epochs: the lent encoders are still phase 1's, bit for bit
    from astrotrain.runs.checkpoints import load_verified

    fusion = load_verified(run / "phases" / "2-integrate" / "checkpoints" / "last.ckpt")["state_dict"]
    surrogate = load_verified(run / "phases" / "1-pretrain" / "surrogate" / "checkpoints" / "last.ckpt")["state_dict"]
    lent = {k.removeprefix("model.encoders.0.pretrained."): v for k, v in fusion.items() if k.startswith("model.encoders.0.pretrained.")}
    assert lent and all(torch.equal(v, surrogate[f"model.{k}"]) for k, v in lent.items())

    res = run_cli(["--resume", str(run)], cwd=tmp_path, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    assert phase_one_fingerprint(run) == before  # phase 1 was not rerun
    assert fusion_test_metrics(run) == fusion_test_metrics(smoke_pipeline)
    assert json.loads((run / "pipeline.json").read_text())["phases"]["integrate"]["status"] == "finished"


@pytest.mark.slow
def test_a_pipeline_killed_during_phase_2_resumes_to_identical_metrics(tmp_path, data_cache, smoke_pipeline):
    """SIGKILL (no chance to clean up) once phase 2 has written a checkpoint; resume from the newest verified one."""
    args = pipeline_args(tmp_path, data_cache, "pipeline.phases=[pretrain,integrate]", "trainer.checkpoint_every_n_steps=20")
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=tmp_path, env=cli_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 900
    try:
        while time.monotonic() < deadline and process.poll() is None:
            ckpts = list((tmp_path / "runs").glob("*/phases/2-integrate/checkpoints/step=*.ckpt.manifest.json"))
            if ckpts:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the pipeline finished before it could be killed in phase 2"
    run = next((tmp_path / "runs").iterdir())
    assert json.loads((run / "pipeline.json").read_text())["phases"]["integrate"]["status"] == "running"
    before = phase_one_fingerprint(run)
    res = run_cli(["--resume", str(run)], cwd=tmp_path, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    assert phase_one_fingerprint(run) == before
    assert fusion_test_metrics(run) == fusion_test_metrics(smoke_pipeline)


def test_fusion_without_the_components_it_fuses_exits_2_before_writing(tmp_path, data_cache):
    res = run_cli(pipeline_args(tmp_path, data_cache, "components.spectral.enabled=false"), cwd=tmp_path)
    assert res.returncode == 2  # the spectrum modality, and the gases retrieved by it
    assert "spectrum (components.spectral.enabled is false)" in res.stderr and "gases (components.spectral.enabled is false)" in res.stderr
    assert "components.multimodal.modalities" in res.stderr
    assert not (tmp_path / "runs").exists()
    res = run_cli(pipeline_args(tmp_path, data_cache, "pipeline.phases=[integrate,pretrain]"), cwd=tmp_path)
    assert res.returncode == 2 and "pipeline.phases" in res.stderr and not (tmp_path / "runs").exists()
    res = run_cli(pipeline_args(tmp_path, data_cache, "pipeline.phases=[integrate]"), cwd=tmp_path)
    assert res.returncode == 2 and "components.multimodal.pretrained" in res.stderr and not (tmp_path / "runs").exists()
    res = run_cli(pipeline_args(tmp_path, data_cache, "--component", "surrogate"), cwd=tmp_path)
    assert res.returncode == 2 and "drop one of the two" in res.stderr


def test_fusion_refuses_encoders_trained_on_another_planet_split(tmp_path, data_cache, smoke_pipeline):
    res = run_cli(pipeline_args(tmp_path, data_cache, "pipeline.phases=[integrate]", f"components.multimodal.pretrained={smoke_pipeline}",
                                "data.split.seed=1"), cwd=tmp_path)
    assert res.returncode == 2 and "data.split" in res.stderr and not (tmp_path / "runs").exists()


def test_fusion_alone_without_pretrained_encoders_names_the_key_and_the_fix(tmp_path, data_cache):
    res = run_cli(smoke_args(tmp_path, data_cache, "--component", "multimodal"), cwd=tmp_path)
    assert res.returncode == 2
    assert "components.multimodal.pretrained" in res.stderr and "--mode full" in res.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_quickstart_notebook_runs_on_a_finished_pipeline(smoke_pipeline, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(ROOT / "notebooks" / "01_astrotrain_quickstart.ipynb", as_version=4)
    os.environ["ASTROTRAIN_RUN"] = str(smoke_pipeline)
    try:
        NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    finally:
        os.environ.pop("ASTROTRAIN_RUN", None)
    outputs = "\n".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)
    assert f"run: {smoke_pipeline}" in outputs
    assert "predicted:" in outputs and "truth:" in outputs
    images = sum("image/png" in o.get("data", {}) for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)
    assert images >= 4


@pytest.mark.slow
def test_report_renders_in_headless_chromium(smoke_pipeline, tmp_path):
    import shutil

    from PIL import Image

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    shot = tmp_path / "report.png"
    res = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,2400",
                          f"--screenshot={shot}", (smoke_pipeline / "report.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.is_file(), res.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape[0] >= 2000 and pixels.std() > 10  # text, tables and plots, not a blank page
    assert (pixels < 128).mean() > 0.01  # dark ink (text, axes) covers part of the page


def test_a_disabled_fusion_and_left_out_phases_are_recorded_as_skipped_with_the_reason(tmp_path, data_cache):
    res = run_cli(pipeline_args(tmp_path, data_cache, "pipeline.phases=[integrate]", "components.multimodal.enabled=false"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    status = json.loads((report_path(res.stdout).parent / "pipeline.json").read_text())["phases"]
    assert status["pretrain"] == {**status["pretrain"], "status": "skipped", "reason": "not in pipeline.phases"}
    assert status["integrate"]["reason"] == "components.multimodal.enabled is false"
    assert "components.multimodal.enabled is false" in res.stdout


def test_resume_targets_are_checked_before_anything_runs(tmp_path, data_cache, smoke_pipeline):
    res = run_cli(["--validate-only", "--resume", str(smoke_pipeline)], cwd=tmp_path)
    assert res.returncode == 0 and "config OK: mode=full" in res.stdout, res.stderr[-2000:]
    component_run = smoke_pipeline / "phases" / "1-pretrain" / "surrogate"
    res = run_cli(pipeline_args(tmp_path, data_cache, "--resume", str(component_run)), cwd=tmp_path)
    assert res.returncode == 2 and "not a --mode full run directory" in res.stderr
    res = run_cli(["--resume", str(smoke_pipeline), "--config", str(ROOT / "config" / "presets" / "smoke.yaml"), "--mode", "full",
                   "run.seed=5"], cwd=tmp_path)
    assert res.returncode == 2 and "run.seed" in res.stderr and "--force-config-change" in res.stderr
