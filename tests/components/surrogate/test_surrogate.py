"""The surrogate component: physics of its constraints, its PCA basis, and that it learns."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from astrotrain.components.surrogate import physics
from astrotrain.components.surrogate.data import fit_pca
from astrotrain.components.surrogate.model import SurrogateTransformer
from astrotrain.universe.labels import area_weights
from tests.conftest import run_cli, smoke_args


def test_hard_constraints_hold_exactly_on_random_maps():
    torch.manual_seed(0)
    maps = torch.randn(16, 3, 32 * 64) * 200.0
    night = torch.from_numpy(physics.nightside_mask())
    out = physics.apply_hard_constraints(maps, night)
    assert torch.all(out[:, 1][:, night] == 0.0)
    assert torch.all(out[:, 1:] >= 0.0)
    assert torch.equal(out[:, 0], maps[:, 0])  # surface temperature untouched
    day = ~night
    assert torch.equal(out[:, 1][:, day], maps[:, 1][:, day].clamp_min(0.0))


def test_nightside_is_the_antistellar_hemisphere():
    night = physics.nightside_mask().reshape(32, 64)
    assert night.mean() == 0.5
    assert night[:, 0].all() and night[:, -1].all()  # ±177° from the substellar point
    assert not night[:, 31].any() and not night[:, 32].any()  # ±3°


def test_energy_balance_penalty_is_zero_within_tolerance_and_positive_beyond():
    w = torch.from_numpy(area_weights().reshape(-1)).float()
    asr = torch.full((2, 2048), 240.0)
    olr = torch.stack([torch.full((2048,), 241.0), torch.full((2048,), 250.0)])
    imbalance = physics.energy_imbalance(asr, olr, w)
    assert imbalance.tolist() == pytest.approx([-1.0, -10.0], abs=1e-4)
    assert physics.energy_balance_penalty(imbalance[:1], tolerance=2.0) == 0.0
    assert physics.energy_balance_penalty(imbalance[1:], tolerance=2.0).item() == pytest.approx((8.0 / 10.0) ** 2, rel=1e-5)


def test_clero_fields_satisfy_energy_balance_to_a_few_watts(tmp_path):
    from astrotrain.config.schema import UniverseConfig
    from astrotrain.universe.generate import ensure_universe

    u = ensure_universe(UniverseConfig(n_planets=64, cache_dir=str(tmp_path)), progress=False)
    w = torch.from_numpy(area_weights().reshape(-1))
    asr = torch.from_numpy(u.field("asr").reshape(64, -1)).double()
    olr = torch.from_numpy(u.field("olr").reshape(64, -1)).double()
    imbalance = physics.energy_imbalance(asr, olr, w)
    assert imbalance.abs().max() < 5.0  # W/m²: why the default tolerance is 2 W/m², not 0
    assert asr.mean() > 50.0
    assert physics.nightside_asr(asr, torch.from_numpy(physics.nightside_mask())).max() == 0.0


def test_weighted_quantile_matches_the_definition():
    from astrotrain.components.surrogate.module import weighted_quantile

    values = torch.tensor([3.0, 1.0, 2.0, 4.0])
    assert weighted_quantile(values, torch.ones(4), 0.5).item() == 2.0
    assert weighted_quantile(values, torch.tensor([0.0, 0.0, 0.0, 1.0]), 0.5).item() == 4.0
    weights = torch.tensor([1.0, 1.0, 1.0, 7.0])  # cumulative share 0.1, 0.2, 0.3, 1.0
    assert weighted_quantile(values, weights, 0.3).item() == 3.0  # smallest v with F(v) >= q
    assert weighted_quantile(values, weights, 0.31).item() == 4.0


def test_pca_basis_is_orthonormal_exact_at_full_rank_and_sign_fixed():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(40, 30)) @ rng.normal(size=(30, 50)) + 250.0
    mean, comps, scale = fit_pca(maps, 30)
    np.testing.assert_allclose(comps @ comps.T, np.eye(30), atol=1e-10)
    coeffs = (maps - mean) @ comps.T
    np.testing.assert_allclose(mean + coeffs @ comps, maps, atol=1e-8)  # rank 30: exact
    assert scale == pytest.approx(np.sqrt(((maps - mean) ** 2).sum(axis=1).mean()))
    assert np.all(comps[np.arange(30), np.abs(comps).argmax(axis=1)] > 0)
    variances = coeffs.var(axis=0)
    assert np.all(np.diff(variances) <= 1e-9)  # ordered by explained variance


def test_decode_restores_instellation_scaling_and_zero_coefficients_give_the_mean():
    model = SurrogateTransformer(n_pixels=6, n_components=2, d_model=8, n_heads=2, n_layers=1)
    mean = torch.tensor([[280.0] * 6, [0.4] * 6, [0.3] * 6])
    model.set_basis(torch.zeros(8), torch.ones(8), mean, torch.zeros(3, 2, 6), torch.ones(3))
    features = torch.zeros(2, 8)
    features[:, 1] = torch.tensor([1000.0, 500.0])  # F_star
    maps = model.decode_fields(torch.zeros(2, 3, 2), features)
    assert torch.allclose(maps[:, 0], torch.full((2, 6), 280.0))
    assert torch.allclose(maps[0, 1], torch.full((6,), 400.0)) and torch.allclose(maps[1, 1], torch.full((6,), 200.0))
    assert torch.allclose(maps[1, 2], torch.full((6,), 150.0))


def test_smoke_run_beats_the_train_mean_baseline_by_a_wide_margin(tmp_path, data_cache):
    res = run_cli(smoke_args(tmp_path, data_cache), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (run,) = (tmp_path / "runs").iterdir()
    everything = json.loads((run / "metrics.json").read_text())
    metrics = everything["test"]
    # σ calibrated on the validation split; its coverage is measured on the test split (60 planets × 2,048 cells)
    assert 0.6 < metrics["surface_temperature_coverage_1sigma"] < 0.76 and 0.9 < metrics["surface_temperature_coverage_2sigma"] < 0.99
    # the margin: at most a third of the train-mean error on held-out planets
    assert metrics["surface_temperature_rmse_K"] < metrics["baseline_train_mean_surface_temperature_rmse_K"] / 3
    controls = everything["baselines"]
    assert metrics["climate_state_accuracy"] > controls["majority_state_accuracy"] + 0.05  # 0.77 vs 0.65 measured
    assert controls["shuffled_reference_state_accuracy"] <= controls["majority_state_accuracy"] + 0.05  # at chance
    # the habitable fraction read off the predicted map beats the direct head and a third of a constant guess
    assert metrics["habitable_fraction_mae"] < metrics["habitable_fraction_mae_head"] and metrics["habitable_fraction_mae"] < 0.06
    assert "surface_temperature_rmse_K" in res.stdout  # the summary table


def test_physics_flag_enforces_nightside_zero_and_logs_residuals_both_ways(tmp_path, data_cache):
    short = ["trainer.max_epochs=5", "components.surrogate.mlp_baseline_epochs=0"]
    results = {}
    for flag in ([], ["--physics-constraints"]):
        out = tmp_path / ("on" if flag else "off")
        res = run_cli(smoke_args(out, data_cache, *short, *flag), cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        (run,) = (out / "runs").iterdir()
        results[bool(flag)] = json.loads((run / "metrics.json").read_text())["test"]
    for metrics in results.values():
        assert {"energy_imbalance_abs_Wm2", "nightside_asr_abs_Wm2", "negative_flux_share"} <= metrics.keys()
    assert results[True]["nightside_asr_abs_Wm2"] == 0.0 and results[True]["negative_flux_share"] == 0.0


def _random_basis(n_pixels: int = 256, k: int = 8, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    components = np.stack([np.linalg.qr(rng.normal(size=(n_pixels, k)))[0].T for _ in range(3)])  # orthonormal rows
    return {"pca_mean": rng.normal(250.0, 30.0, size=(3, n_pixels)), "pca_components": components, "pca_scale": rng.uniform(5.0, 50.0, 3)}


def test_batch_projection_gives_the_pca_coefficients_of_the_maps():
    """A batch's targets are the PCA coefficients of its maps (the definition, computed here with np.einsum), and a map
    rebuilt from them is the map up to what the truncated basis cannot hold."""
    from astrotrain.components.surrogate.data import SurrogateBatches

    basis, rng = _random_basis(), np.random.default_rng(1)
    coeffs_true = rng.normal(size=(5, 3, 8))
    features = np.abs(rng.normal(1.0, 0.1, size=(5, 8))).astype(np.float32)
    modelled = basis["pca_mean"][None] + basis["pca_scale"][None, :, None] * np.einsum("nfk,fkp->nfp", coeffs_true, basis["pca_components"])
    maps = modelled.copy()
    maps[:, 1:] *= features[:, 1, None, None]  # ASR, OLR are modelled per unit instellation (F_star, feature 1)
    raw = {"features": features, "state": np.zeros(5, dtype=np.int64), "habitable": np.zeros(5), "boiling_point": np.zeros(5, dtype=np.float32),
           **{f"map:{f}": maps[:, i].reshape(5, 16, 16) for i, f in enumerate(("surface_temperature", "asr", "olr"))}}
    batch = SurrogateBatches(basis)(raw)
    np.testing.assert_allclose(batch["coeffs"].numpy(), coeffs_true, rtol=1e-4, atol=1e-4)


def test_serving_read_out_is_the_full_read_out_of_surface_temperature():
    """`surface_temperature` (what predict and ONNX serve) equals forward + decode_fields(...)[:, 0] up to float32 rounding
    (another order of the same sums), and the state logits exactly."""
    torch.manual_seed(0)
    model = SurrogateTransformer(n_pixels=256, n_components=8, d_model=32, n_heads=2, n_layers=1).eval()
    basis = _random_basis()
    model.set_basis(np.zeros(8), np.ones(8), basis["pca_mean"], basis["pca_components"], basis["pca_scale"])
    features = torch.randn(7, 8)
    with torch.no_grad():
        out = model(features)
        full = model.decode_fields(out["coeff_mean"], features)[:, 0]
        ts, states = model.surface_temperature(features)
    torch.testing.assert_close(ts, full, rtol=1e-6, atol=1e-4)  # K, on maps of ~250 K
    assert torch.equal(states, out["state_logits"])
