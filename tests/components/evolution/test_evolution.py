"""The evolution component end to end: smoke training both ways, exact conservation with constraints, speed report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import run_cli, smoke_args


@pytest.mark.slow
@pytest.mark.parametrize("flag", [[], ["--physics-constraints"]])
def test_smoke_training_beats_persistence_and_reports_speed(tmp_path, data_cache, flag):
    res = run_cli(smoke_args(tmp_path, data_cache, "--component", "evolution", *flag), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (run,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["test"]
    assert test["rmse_log10_pco2_dex"] < test["persistence_rmse_log10_pco2_dex"]
    assert test["rmse_temperature_K"] < test["persistence_rmse_temperature_K"]
    if flag:
        assert test["conservation_residual"] < 1e-5  # softmax shares: exact up to float32
    speed = metrics["baselines"]
    assert speed["ode_ms_per_trajectory"] > 0 and speed["speedup_vs_ode"] > 1
    treatment = json.loads((run / "normalisation.json").read_text())
    assert treatment["excluded_failed_integrations"] == 0


def test_constrained_outputs_conserve_carbon_and_obey_the_energy_balance():
    from astrotrain.components.evolution.config import EvolutionConfig
    from astrotrain.components.evolution.module import EvolutionModule
    from astrotrain.universe.evolution import TIME_GRID_GYR, luminosity_factor, surface_temperature

    torch.manual_seed(0)
    stats = {"feature_mean": np.zeros(5), "feature_std": np.ones(5), "driver_mean": np.zeros(13), "driver_std": np.ones(13), "time_gyr": TIME_GRID_GYR}
    module = EvolutionModule(EvolutionConfig(d_model=16, n_heads=2, n_layers=1), stats, 10, physics_constraints=True)
    torch.nn.init.normal_(module.model.head.weight, std=5.0)  # wild, untrained outputs
    batch = {"trajectory": torch.randn(4, 91, 5), "drivers": torch.randn(4, 13), "f_star": torch.tensor([600.0, 900, 1200, 1500]),
             "log10_c_total": torch.tensor([1.5, 2.0, 2.5, 2.7])}
    out = module.forecast(batch)
    total = out["f_atmosphere"].double() + out["f_carbonate"].double() + out["f_mantle"].double()
    np.testing.assert_allclose(total.detach().numpy(), 1.0, atol=1e-6)
    s = batch["f_star"][:, None].double().numpy() * luminosity_factor(TIME_GRID_GYR[10:])[None]
    expected = surface_temperature(s, 10 ** out["log10_pCO2"].double().detach().numpy())
    np.testing.assert_allclose(out["temperature"].detach().numpy(), expected, rtol=1e-5)
