"""A federation that survives its server: checkpoints after every round, a kill -9 in round k, a resume
that ends bitwise where the uninterrupted federation ends; observatories that keep their own record."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from astrotrain.components.galactic.observatory_state import gaussian_dp_epsilon
from astrotrain.runs.checkpoints import read_manifest
from tests.conftest import run_cli, smoke_args

# four rounds with client-side DP: the server's Gaussian noise comes from numpy's global generator, so a
# resume that lost the generator's state would not end where the uninterrupted federation does
FEDERATION = ("--component", "galactic", "components.galactic.rounds=4", "components.galactic.dp_noise_multiplier=0.1",
              "components.galactic.dp_clipping_norm=0.5")


def federate(tmp_path: Path, data_cache: Path, fusion: Path) -> tuple[object, Path | None]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    res = run_cli(smoke_args(tmp_path, data_cache, *FEDERATION, f"components.galactic.fusion={fusion}"), cwd=tmp_path)
    runs = list((tmp_path / "runs").iterdir()) if (tmp_path / "runs").is_dir() else []
    return res, runs[0] if runs else None


def test_the_rdp_accountant_gives_the_closed_form_of_the_gaussian_mechanism():
    # min over α of T·α/(2z²) + ln(1/δ)/(α−1) is c + 2·sqrt(c·ln(1/δ)) with c = T/(2z²), at α = 1 + sqrt(ln(1/δ)/c)
    for rounds, z, delta in ((1, 1.0, 1e-5), (20, 1.1, 1e-5), (100, 4.0, 1e-6)):
        c = rounds / (2 * z**2)
        assert gaussian_dp_epsilon(rounds, z, delta) == pytest.approx(c + 2 * math.sqrt(c * math.log(1 / delta)), rel=1e-4)
    assert gaussian_dp_epsilon(0, 1.0, 1e-5) == 0.0  # no participation, no cost
    assert gaussian_dp_epsilon(40, 1.0, 1e-5) < 2 * gaussian_dp_epsilon(20, 1.0, 1e-5)  # RDP composes sub-linearly in ε


@pytest.mark.slow
def test_a_server_killed_in_round_3_resumes_to_the_uninterrupted_federation_bitwise(tmp_path, data_cache, smoke_pipeline, monkeypatch):
    res, whole = federate(tmp_path / "whole", data_cache, smoke_pipeline)
    assert res.returncode == 0, res.stderr[-3000:]

    monkeypatch.setenv("ASTROTRAIN_FAULT", "kill:federated-round:3")
    res, killed = federate(tmp_path / "killed", data_cache, smoke_pipeline)
    monkeypatch.delenv("ASTROTRAIN_FAULT")
    assert res.returncode == -9, res.stderr[-3000:]
    assert read_manifest(killed / "checkpoints" / "last.ckpt")["global_step"] == 2  # rounds 1 and 2 are safe on disk
    assert not (killed / "federation_result.json").exists()
    # the observatories trained round 3 before the kill: their files hold it, and the resumed round 3 must not count it twice
    assert all('"3"' in (killed / "observatories" / f"{k}-state.json").read_text() for k in range(3))

    res = run_cli(["--resume", str(killed)], cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resumed after round 2 of 4" in res.stderr
    assert (killed / "global_model.safetensors").read_bytes() == (whole / "global_model.safetensors").read_bytes()
    assert (killed / "federation_result.json").read_text() == (whole / "federation_result.json").read_text()
    ours, theirs = (json.loads((run / "metrics.json").read_text()) for run in (killed, whole))
    assert ours["test"] == theirs["test"] and ours["held_out_per_round"] == theirs["held_out_per_round"]
    assert ours["baselines"]["dp_epsilon_max"] == pytest.approx(gaussian_dp_epsilon(4, 0.1, 1e-5))  # four participations, not five
    for k in range(3):
        record = json.loads((killed / "observatories" / f"{k}-state.json").read_text())["4"]
        assert record["rounds_trained"] == 4 and record["dp_rounds"] == 4
    assert len(json.loads((killed / "provenance.json").read_text())["resumes"]) == 1
