"""The leakage audit's parts and what models see: the catalog view, the retrieval's detections, the controls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from astrotrain.config.schema import CatalogNoise, UniverseConfig
from astrotrain.data.leakage import LEAKAGE_AUC, controls
from astrotrain.data.observation import ATMOSPHERE_PARAMETERS, CATALOG_PARAMETERS, catalog_view, unknown_atmosphere


def test_controls_find_a_label_one_input_decides_and_put_shuffled_labels_at_chance():
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=(n, 4))
    leak = (x[:, 2] > 0.3).astype(np.int64)  # column 2 decides the label
    noisy = ((x[:, 0] + x[:, 1] + rng.normal(0, 0.8, n)) > 0).astype(np.int64)  # two inputs together, with noise
    train, test = slice(0, 2000), slice(2000, None)
    names = ["a", "b", "decider", "noise"]
    audit = controls("binary", x[train], leak[train], x[test], leak[test], names)
    assert audit["best_single_input"]["input"] == "decider" and audit["best_single_input"]["roc_auc"] > LEAKAGE_AUC
    assert abs(audit["shuffled_label_reference"]["roc_auc"] - 0.5) < 0.06  # 1,000 test rows: σ ≈ 0.02
    honest = controls("binary", x[train], noisy[train], x[test], noisy[test], names)
    assert honest["best_single_input"]["roc_auc"] < honest["all_inputs_reference"]["roc_auc"] - 0.08 and honest["best_single_input"]["roc_auc"] < 0.85
    assert honest["best_single_input"]["input"] in ("a", "b")
    assert honest["single_input_scores"]["noise"]["roc_auc"] == pytest.approx(0.5, abs=0.06)
    majority = honest["majority_baseline"]
    train_majority = int(noisy[train].mean() > 0.5)  # the training split's class, scored on the test split
    assert majority["class"] == train_majority and majority["roc_auc"] == 0.5
    assert majority["accuracy"] == pytest.approx((noisy[test] == train_majority).mean())


def test_class_and_fraction_controls_score_against_their_own_baselines():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(2000, 2))
    classes = np.digitize(x[:, 0], [0.5, 0.8])  # 3 classes from column 0
    fraction = np.clip(x[:, 1] + rng.normal(0, 0.05, 2000), 0, 1)
    c = controls("classes", x[:1500], classes[:1500], x[1500:], classes[1500:], ["p", "q"])
    assert c["best_single_input"]["input"] == "p" and c["best_single_input"]["accuracy"] > 0.97
    assert c["majority_baseline"]["accuracy"] == pytest.approx((classes[1500:] == 0).mean())
    f = controls("fraction", x[:1500], fraction[:1500], x[1500:], fraction[1500:], ["p", "q"], shuffled_reference=False)
    assert f["best_single_input"]["input"] == "q" and f["best_single_input"]["mae"] < 0.5 * f["majority_baseline"]["mae"]


def test_the_catalog_view_adds_the_catalog_noise_and_never_the_atmosphere():
    n = 20000
    table = pd.DataFrame({"T_star": np.full(n, 3500.0), "F_star": np.full(n, 1000.0), "radius": np.full(n, 1.0), "gravity": np.full(n, 9.8),
                          "P_rot": np.full(n, 10.0), "P0": np.geomspace(0.5, 5, n), "CO2": np.geomspace(1e-6, 0.9, n), "CH4": np.full(n, 1e-3)})
    noise = CatalogNoise().model_dump()
    unknown = unknown_atmosphere(UniverseConfig())
    view = catalog_view(table, noise, unknown, seed=3)
    for name in CATALOG_PARAMETERS:  # log-normal with the configured fractional σ, unbiased in log
        spread = np.std(np.log(view[name] / table[name]))
        assert spread == pytest.approx(noise[name], abs=0.01 * max(noise[name], 0.05)) and abs(np.mean(np.log(view[name] / table[name]))) < 0.005
    for name in ATMOSPHERE_PARAMETERS:  # one constant for every planet: no atmosphere information at all
        assert view[name].nunique() == 1 and view[name].iloc[0] == pytest.approx(unknown[name])
    assert unknown["P0"] == pytest.approx(np.sqrt(0.5 * 5.0)) and unknown["CO2"] == pytest.approx(np.sqrt(1e-6 * 0.95))
    assert catalog_view(table, noise, unknown, seed=3).equals(view) and not catalog_view(table, noise, unknown, seed=4).equals(view)
    exact = catalog_view(table, noise, unknown, seed=None)  # a real catalog's values carry their own errors
    assert np.array_equal(exact["T_star"], table["T_star"])


def test_a_gas_is_detected_only_where_the_retrieval_excludes_its_absence():
    from astrotrain.components.spectral.retrieval import gas_detections

    retrieval = {"log10_abundance": np.array([[-3.0, -8.5, -6.0]]), "sigma_dex": np.array([[0.2, 0.3, 1.6]])}
    found = gas_detections(retrieval, detection_sigma=2.0, detection_floor=1e-9)[0]
    # -3 ± 0.2: detected; -8.5 ± 0.3: -9.1 at 2σ is below 1e-9, not detected; -6 ± 1.6: -9.2 at 2σ, not detected
    np.testing.assert_array_equal(found[:, 0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(found[:, 1], [-3.0, -7.9, -2.8])  # the value, else the 2σ upper limit
    np.testing.assert_allclose(found[:, 2], [0.2, 0.0, 0.0])
