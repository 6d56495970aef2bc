"""The universe's second slice: biosphere draw, gas inventory, terminator state, stored evolution."""

from __future__ import annotations

import numpy as np
import pytest

from astrotrain.config.schema import UniverseConfig
from astrotrain.errors import UserError
from astrotrain.universe import biosphere as bio
from astrotrain.universe.generate import ensure_universe
from astrotrain.universe.terminator import CLOUD_DECK_FRACTION, N_PROBED_LEVELS, terminator_state


def test_life_probability_rises_with_habitable_fraction_from_zero():
    h = np.linspace(0, 1, 101)
    p = bio.life_probability(h)
    assert p[0] == 0.0 and np.all(np.diff(p) > 0)
    assert p[-1] == pytest.approx(bio.P_MAX * (1 - np.exp(-1 / bio.H_SCALE)))
    assert bio.life_probability(np.array([bio.H_SCALE]))[0] == pytest.approx(bio.P_MAX * (1 - np.exp(-1)))


def test_ozone_follows_the_square_root_of_oxygen():
    o2 = np.array([0.21, 0.021, 0.0021, 0.0])
    o3 = bio.ozone_from_oxygen(o2)
    assert o3[0] == pytest.approx(3e-7)
    np.testing.assert_allclose(o3[:2] / o3[1:3], np.sqrt(10.0))
    assert o3[3] == 0.0


def _draw(n=20000, seed=1):
    rng = np.random.default_rng(seed)
    params = {"T_star": rng.uniform(2500, 5800, n), "CO2": 10 ** rng.uniform(-6, -0.05, n), "CH4": 10 ** rng.uniform(-8, np.log10(0.05), n)}
    h = np.where(rng.random(n) < 0.3, 0.0, rng.random(n))
    states = np.where(rng.random(n) < 0.05, "moist_greenhouse", "eyeball")
    q = 10 ** rng.uniform(-8, -1, n)  # terminator specific humidity, kg/kg
    return params, h, states, q, bio.draw_atmospheres(params, h, states, q, seed)


def test_gas_inventory_is_consistent_with_its_scenario():
    params, h, states, q, atm = _draw()
    scenario, alive = atm["scenario"], atm["biosphere"]
    total = sum(atm[f"x_{g}"] for g in bio.GASES)
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    # H2O from q with the planet's own dry molar mass (a CO2 atmosphere holds fewer H2O molecules per kg)
    x_h2o = atm["x_H2O"]
    mu_dry = sum(bio.MOLAR_MASS[g] * atm[f"x_{g}"] for g in bio.GASES if g != "H2O") / (1 - x_h2o)
    r = q / (1 - q) * mu_dry / 18.015
    np.testing.assert_allclose(x_h2o, r / (1 + r), rtol=1e-12)
    # CLERO's CO2 and CH4 are the dry-air fractions, diluted by the water vapour only
    np.testing.assert_allclose(atm["x_CO2"], params["CO2"] * (1 - x_h2o), rtol=1e-12)
    assert not alive[h == 0].any(), "no life without a habitable surface"
    assert np.array_equal(alive, np.isin(scenario, ["inhabited_oxygenic", "inhabited_anoxic"]))
    has_o2 = atm["x_O2"] > 0
    assert np.array_equal(has_o2, np.isin(scenario, ["inhabited_oxygenic", "abiotic_water_loss_o2", "abiotic_photolysis_o2"]))
    assert np.array_equal(atm["x_O3"] > 0, has_o2)
    for gas in ("N2O", "CH3Cl", "DMS"):  # biogenic gases also have abiotic sources, and not every biosphere makes each
        assert (atm[f"x_{gas}"][~alive] > 0).mean() > 0.15, gas
        assert 0.2 < (atm[f"x_{gas}"][alive] > 0).mean() < 1.0, gas
    assert atm["x_DMS"][~alive & (params["CH4"] < bio.DMS_CH4_MIN)].max() == 0.0  # abiotic DMS needs CH4
    # false positives: abiotic O2 only around M dwarfs or on moist-greenhouse planets
    fp = np.isin(scenario, ["abiotic_water_loss_o2", "abiotic_photolysis_o2"])
    assert fp.sum() > 500
    assert np.all((params["T_star"][fp] < bio.M_DWARF_T_STAR) | (states[fp] == "moist_greenhouse"))
    # the prevalence of life follows P(life | h)
    for lo, hi in ((0.05, 0.15), (0.5, 0.7)):
        band = (h >= lo) & (h < hi)
        assert alive[band].mean() == pytest.approx(bio.life_probability(h[band]).mean(), abs=0.03)
    # the dry-gas constants stored with the inventory are those of its own composition
    from astrotrain.universe.thermo import dry_constants

    dry = dry_constants({g: atm[f"x_{g}"] for g in bio.GASES})
    np.testing.assert_allclose(atm["epsilon"], dry["epsilon"], rtol=1e-12)
    np.testing.assert_allclose(atm["kappa"], dry["kappa"], rtol=1e-12)
    co2_rich = params["CO2"] > 0.5
    assert atm["epsilon"][co2_rich].max() < 0.52 < atm["epsilon"][params["CO2"] < 1e-3].min()
    mu = bio.mean_molecular_weight({g: atm[f"x_{g}"] for g in bio.GASES})
    np.testing.assert_allclose(atm["mu"], mu)
    assert atm["mu"].min() > 17.0 and atm["mu"].max() < 44.1


def _roc_auc(score, label):
    from scipy.stats import rankdata

    ranks = rankdata(score)
    n1, n0 = label.sum(), (~label).sum()
    return (ranks[label].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


def test_no_true_gas_alone_decides_the_biosphere_label():
    """Even a perfect retrieval could not read life off one gas: each gas's abiotic channel overlaps."""
    params, h, states, q, atm = _draw()
    alive = atm["biosphere"]
    aucs = {gas: _roc_auc(atm[f"x_{gas}"], alive) for gas in bio.GASES}
    assert max(aucs.values()) <= 0.92, aucs
    assert aucs["N2O"] > 0.75 and aucs["O2"] > 0.65  # but they are evidence: well above chance


def test_terminator_state_reads_the_limb_of_the_cube():
    n, levels, lat, lon = 2, 10, np.linspace(-87, 87, 32), np.linspace(-177.1875, 177.1875, 64)
    temperature = np.full((n, levels, 32, 64), 300.0)
    terminator = np.abs(np.abs(lon) - 90) < 6
    temperature[..., terminator] = 200.0  # the limb is colder than the rest
    temperature[:, :-N_PROBED_LEVELS] = 260.0  # and the deep levels are not probed
    q = np.full((n, levels, 32, 64), 1e-3)
    cloud = np.zeros((n, levels, 32, 64))
    cloud[1, 7, :, :] = CLOUD_DECK_FRACTION + 0.1  # planet 1: a deck at level 7
    pressure = np.tile(np.geomspace(9e4, 1e3, levels), (n, 1))
    out = terminator_state(temperature, q, cloud, pressure, np.array([1e5, 1e5]), lat, lon)
    np.testing.assert_allclose(out["terminator_temperature"], 200.0)
    np.testing.assert_allclose(out["specific_humidity"], 1e-3)
    assert out["cloud_top_pressure"][0] == 1e5 and out["cloud_top_pressure"][1] == pytest.approx(pressure[1, 7])


def test_universe_stores_atmospheres_and_evolution_deterministically(tmp_path):
    cfg = UniverseConfig(n_planets=24, cache_dir=str(tmp_path))
    u = ensure_universe(cfg, progress=False)
    atm, evo = u.atmosphere, u.evolution()
    assert len(atm) == 24 and set(atm["scenario"]) <= set(bio.SCENARIOS)
    assert evo["pCO2"].shape == (24, 91) and evo["ok"].all()
    assert u.manifest["evolution_failures"]["count"] == 0
    # the O2 the evolution ends with is the O2 of the planet's atmosphere today
    po2_today = atm["x_O2"].to_numpy() * u.parameters["P0"].to_numpy()
    np.testing.assert_allclose(evo["O2_today"], po2_today)
    # and its CO2 today is the planet's own (CLERO's CO2 × P0): evolution and climate tell one story
    present = u.parameters["CO2"].to_numpy() * u.parameters["P0"].to_numpy()
    error = np.abs(np.log10(evo["pCO2"][:, -1]) - np.log10(present))
    anchor = u.manifest["evolution_present_co2_anchor"]
    assert anchor["anchored"] == 24 - len(anchor["missed"]) >= 23
    assert np.median(error) < 0.01 and np.sort(error)[-2] < anchor["tolerance_dex"]
    again = ensure_universe(UniverseConfig(n_planets=24, cache_dir=str(tmp_path / "b")), progress=False)
    assert again.manifest["sha256"] == u.manifest["sha256"]


def test_failed_evolution_integrations_are_counted_in_the_manifest(tmp_path):
    # an explicit solver on a stiff system, with a budget of right-hand-side calls: some fail
    cfg = UniverseConfig(n_planets=16, cache_dir=str(tmp_path), evolution_method="RK45", evolution_max_evaluations=3000)
    u = ensure_universe(cfg, progress=False)
    failures = u.manifest["evolution_failures"]
    evo = u.evolution()
    assert 16 > failures["count"] == int((~evo["ok"]).sum()) > 0
    assert {f["planet"] for f in failures["planets"]} == set(np.flatnonzero(~evo["ok"]).tolist())
    assert np.isnan(evo["pCO2"][~evo["ok"]]).all()
    # the evolution component trains on the rest and counts what it left out
    from astrotrain.components.evolution.data import EvolutionDataModule
    from astrotrain.config.schema import SplitConfig

    dm = EvolutionDataModule(u, start_steps=10, split=SplitConfig(), batch_size=4)
    dm.setup()
    kept = np.concatenate(list(dm.indices.values()))
    assert dm.excluded == failures["count"] and len(kept) == 16 - failures["count"]
    assert evo["ok"][kept].all()
    assert dm.treatment()["normalisation"]["excluded_failed_integrations"] == failures["count"]
    all_failed = ensure_universe(UniverseConfig(n_planets=16, cache_dir=str(tmp_path / "x"), evolution_method="RK45", evolution_max_evaluations=100), progress=False)
    with pytest.raises(UserError, match=r"only 0 train trajectories .* \(16 failed"):
        EvolutionDataModule(all_failed, start_steps=10, split=SplitConfig(), batch_size=4).setup()
    # and the quality report rejects each failed planet, with its reason
    from astrotrain.data.quality import universe_report

    report = universe_report(u)
    rejected = [r for r in report.records if r.check == "integration"]
    assert len(rejected) == failures["count"] and all(r.action == "rejected" and "evaluations" in r.detail for r in rejected)
    assert report.summary["evolution failures"] == failures["count"]
