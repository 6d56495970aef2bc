"""The datacube component end to end: bad cubes, exact hard constraints, residuals logged both ways."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from astrotrain.components.datacube.data import validate_cube
from astrotrain.errors import UserError
from tests.conftest import run_cli, smoke_args


def test_bad_cubes_name_the_variable_and_the_shapes():
    good_in = {"surface_temperature": np.full((2, 32, 64), 280.0)}
    good_out = {"temperature": np.full((2, 10, 32, 64), 250.0)}
    validate_cube(good_in, good_out)
    with pytest.raises(UserError, match=r"target temperature: expected rank 4 .* found shape \(2, 32, 64\)"):
        validate_cube(good_in, {"temperature": np.zeros((2, 32, 64))})
    with pytest.raises(UserError, match="different grids"):
        validate_cube(good_in, {"temperature": np.zeros((2, 10, 16, 64))})
    nan = np.full((2, 32, 64), 280.0)
    nan[1, 3, 4] = np.nan
    with pytest.raises(UserError, match="input surface_temperature: 1 non-finite values"):
        validate_cube({"surface_temperature": nan}, good_out)


@pytest.mark.parametrize("flag", [[], ["--physics-constraints"]])
def test_smoke_training_logs_every_residual_and_hard_constraints_hold_exactly(tmp_path, data_cache, flag):
    res = run_cli(smoke_args(tmp_path, data_cache, "--component", "datacube", *flag), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (run,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["test"]
    for name in ("q_negative_pred", "cloud_outside_pred", "unstable_share_pred", "supersaturated_share_pred",
                 "supersaturated_share_truth", "temperature_rmse_copy_surface", "temperature_rmse_train_mean"):
        assert np.isfinite(test[name]), name
    assert test["q_negative_truth"] == 0.0 and test["cloud_outside_truth"] == 0.0  # CLERO's own fields
    assert len([k for k in test if k.startswith("temperature_rmse_level")]) == 10
    assert metrics["train"]["samples_per_s"] > 0
    if flag:
        assert test["q_negative_pred"] == 0.0 and test["cloud_outside_pred"] == 0.0
    # the smoke run beats both baselines on temperature (held-out planets)
    assert test["temperature_rmse"] < test["temperature_rmse_train_mean"] < test["temperature_rmse_copy_surface"]


def test_hard_output_layer_bounds_random_networks():
    from astrotrain.components.datacube.config import DatacubeConfig
    from astrotrain.components.datacube.module import DatacubeModule

    torch.manual_seed(0)
    levels = np.arange(10)
    stats = {"target_mean": np.ones((5, 10)), "target_std": np.ones((5, 10)), "mean_cube": np.full((5, 10, 32, 64), 0.5)}
    module = DatacubeModule(DatacubeConfig(width=4), stats, levels, physics_constraints=True)
    torch.nn.init.normal_(module.model.head.weight, std=10.0)  # an untrained head with wild outputs
    batch = {"maps": torch.randn(2, 3, 32, 64) * 5, "params": torch.randn(2, 8)}
    torch.nn.init.normal_(module.model.column, std=10.0)
    out = module(batch)
    assert torch.all(out[:, 1] >= 0)  # specific humidity
    assert torch.all((out[:, 2] >= 0) & (out[:, 2] <= 1))  # cloud fraction
    assert out[:, 1].min() < 0.5 < out[:, 1].max()  # not a constant: the bound is not a clamp to the mean
