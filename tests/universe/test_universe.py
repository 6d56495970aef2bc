"""The climate universe: deterministic bytes, sampling inside CLERO's domain, physical labels."""

from __future__ import annotations

import numpy as np
import pytest

from astrotrain.config.schema import UniverseConfig
from astrotrain.hashing import sha256_tree
from astrotrain.universe.generate import ensure_universe, universe_path
from astrotrain.universe.labels import area_weights, climate_states, habitable_fraction
from astrotrain.universe.sampling import PARAMETER_NAMES, core_domain, sample_parameters


def test_same_seed_gives_identical_bytes_and_a_cache_hit(tmp_path):
    a = ensure_universe(UniverseConfig(n_planets=40, cache_dir=str(tmp_path / "a")), progress=False)
    b = ensure_universe(UniverseConfig(n_planets=40, cache_dir=str(tmp_path / "b")), progress=False)
    assert sha256_tree(a.path) == sha256_tree(b.path)
    assert a.manifest["sha256"] == b.manifest["sha256"]
    again = ensure_universe(UniverseConfig(n_planets=40, cache_dir=str(tmp_path / "a")), progress=False)
    assert again.path == a.path
    other = ensure_universe(UniverseConfig(n_planets=40, seed=1, cache_dir=str(tmp_path / "a")), progress=False)
    assert other.manifest["sha256"] != a.manifest["sha256"]
    assert not list(tmp_path.glob("*/.*partial"))  # no half-written directories left


def test_universe_content_matches_clero_and_its_labels(tmp_path):
    import clero

    u = ensure_universe(UniverseConfig(n_planets=24, cache_dir=str(tmp_path)), progress=False)
    table = u.parameters
    assert list(table.columns[:9]) == ["planet", *PARAMETER_NAMES]
    params = {name: table[name].to_numpy() for name in PARAMETER_NAMES}
    direct = clero.Emulator().predict({k: v[:3] for k, v in params.items()})
    np.testing.assert_allclose(u.field("surface_temperature", slice(0, 3)), direct["surface_temperature"], rtol=1e-6)
    np.testing.assert_allclose(u.field("temperature", slice(0, 3))[:, 4], direct["temperature_4"], rtol=1e-6)
    assert u.field("specific_humidity").shape == (24, 10, 32, 64)
    # labels: recomputed from the stored fields with CLERO's own classifier
    ts = u.field("surface_temperature")
    np.testing.assert_allclose(table["habitable_fraction"], habitable_fraction(ts, table["P0"].to_numpy()), atol=1e-6)
    assert u.manifest["n_planets"] == 24 and u.manifest["clero_version"] == clero.__version__


def test_sampling_stays_in_the_core_domain_and_is_log_uniform_where_stated():
    params = sample_parameters(20000, seed=3, co2_range=(1e-6, 0.95), ch4_range=(1e-8, 0.05))
    domain = core_domain()
    for name in ("T_star", "F_star", "radius", "gravity", "P_rot", "P0"):
        lo, hi = domain[name]
        assert params[name].min() >= lo and params[name].max() <= hi
    assert np.all(params["CO2"] + params["CH4"] <= 1.0)
    # log-uniform: the median sits at the geometric mean of the bounds
    assert np.median(np.log10(params["CO2"])) == pytest.approx((np.log10(1e-6) + np.log10(0.95)) / 2, abs=0.1)
    assert np.median(params["T_star"]) == pytest.approx(sum(domain["T_star"]) / 2, rel=0.02)
    again = sample_parameters(20000, seed=3, co2_range=(1e-6, 0.95), ch4_range=(1e-8, 0.05))
    assert all(np.array_equal(params[k], again[k]) for k in params)


def test_area_weights_are_normalised_and_symmetric():
    w = area_weights()
    assert w.shape == (32, 64)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(w, w[::-1], rtol=1e-12)  # hemispheres
    assert w[16, 0] > w[0, 0] * 5  # equatorial cells are much larger than polar ones


def test_habitable_fraction_limits_and_a_known_split():
    one_bar = 1.01325
    assert habitable_fraction(np.full((32, 64), 300.0), one_bar) == pytest.approx(1.0)
    assert habitable_fraction(np.full((32, 64), 200.0), one_bar) == 0.0
    assert habitable_fraction(np.full((32, 64), 380.0), one_bar) == 0.0
    assert habitable_fraction(np.full((32, 64), 273.15), one_bar) == pytest.approx(1.0)  # inclusive bounds
    half = np.full((32, 64), 250.0)
    half[:, :32] = 300.0  # one hemisphere in longitude: exactly half the area
    assert habitable_fraction(half, one_bar) == pytest.approx(0.5, abs=1e-12)
    north = np.full((32, 64), 250.0)
    north[16:] = 300.0
    assert habitable_fraction(north, one_bar) == pytest.approx(0.5, abs=1e-12)


def test_the_habitable_window_closes_at_the_boiling_point_of_the_planets_own_pressure():
    hot = np.full((3, 32, 64), 385.0)  # 385 K: boiling at 1 bar, liquid at 2 and 5 bar
    np.testing.assert_allclose(habitable_fraction(hot, np.array([1.0, 2.0, 5.0])), [0.0, 1.0, 1.0])
    warm = np.full((32, 64), 360.0)  # 360 K: above the 354.5 K boiling point at 0.5 bar
    assert habitable_fraction(warm, 0.5) == 0.0 and habitable_fraction(warm, 1.0) == pytest.approx(1.0)


def test_boiling_point_reproduces_the_iapws_if97_verification_values_and_steam_tables():
    from astrotrain.universe.thermo import boiling_point

    # IAPWS-IF97 (2007 revision), table 35: T_s at 0.1, 1 and 10 MPa
    np.testing.assert_allclose(boiling_point([1e5, 1e6, 1e7]), [372.755919, 453.035632, 584.149488], atol=1e-5)
    assert boiling_point(101325.0) == pytest.approx(373.124, abs=1e-3)  # the normal boiling point (ITS-90)
    assert boiling_point(2e5) == pytest.approx(393.36, abs=0.01)  # 120.2 °C at 2 bar
    assert boiling_point(5e5) == pytest.approx(424.98, abs=0.01)
    assert np.isnan(boiling_point(500.0))  # below the triple point: no liquid at all
    p = np.geomspace(1e3, 2e7, 50)
    assert np.all(np.diff(boiling_point(p)) > 0)


def test_dry_air_constants_follow_the_composition():
    from astrotrain.universe.thermo import EARTH_AIR, dry_constants

    air = dry_constants(EARTH_AIR)
    assert float(air["epsilon"]) == pytest.approx(0.622, abs=5e-4)
    assert float(air["kappa"]) == pytest.approx(2.0 / 7.0, abs=5e-4)
    co2 = dry_constants({"CO2": 1.0})
    assert float(co2["epsilon"]) == pytest.approx(0.409, abs=1e-3)  # ≈ 0.41
    assert float(co2["kappa"]) == pytest.approx(0.224, abs=1e-3)
    # water is the condensable: a moist inventory and its dry part give the same constants
    moist = dry_constants({**{k: v * 0.9 for k, v in EARTH_AIR.items()}, "H2O": 0.1})
    assert float(moist["epsilon"]) == pytest.approx(float(air["epsilon"]), rel=1e-12)
    mix = dry_constants({"N2": np.array([1.0, 0.5, 0.0]), "CO2": np.array([0.0, 0.5, 1.0])})
    assert np.all(np.diff(mix["epsilon"]) < 0) and np.all(np.diff(mix["kappa"]) < 0)


def test_climate_state_codes_follow_clero_order():
    from clero.climate_analysis import CLIMATE_STATES

    fields = {"surface_temperature": np.full((2, 32, 64), 200.0)}
    fields["surface_temperature"][1] = 290.0
    for k in range(10):
        fields[f"specific_humidity_{k}"] = np.full((2, 32, 64), 1e-7)
    params = {"P0": np.array([1.0, 1.0]), "CO2": np.array([4e-4, 4e-4]), "CH4": np.array([0.0, 0.0])}
    codes = climate_states(fields, params)
    assert [CLIMATE_STATES[c] for c in codes] == ["snowball", "globally_temperate"]


def test_cache_key_depends_on_everything_that_shapes_the_data(tmp_path):
    base = UniverseConfig(n_planets=100, cache_dir=str(tmp_path))
    keys = {
        universe_path(base),
        universe_path(base.model_copy(update={"seed": 1})),
        universe_path(base.model_copy(update={"n_planets": 101})),
        universe_path(base.model_copy(update={"co2_range": (1e-5, 0.95)})),
    }
    assert len(keys) == 4
    assert universe_path(base.model_copy(update={"clero_batch_size": 7})) == universe_path(base)
