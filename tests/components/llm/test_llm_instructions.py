"""The LLM's instruction data: deterministic pairs that give only what an observer has, and whose
answers parse back to the truth."""

from __future__ import annotations

import re

import numpy as np
import pytest

from astrotrain.components.llm.instructions import GASES, NOT_ASSESSED, OBSERVED, STATES, instruction_pairs, parse_answer, parse_biosphere
from astrotrain.config.schema import CatalogNoise, UniverseConfig
from astrotrain.data.observation import catalog_view, unknown_atmosphere
from astrotrain.universe.generate import ensure_universe


@pytest.fixture(scope="module")
def universe(data_cache):
    return ensure_universe(UniverseConfig(n_planets=200, cache_dir=str(data_cache)), progress=False)


@pytest.fixture(scope="module")
def observations(universe):
    """A catalog view (the default catalog noise) and a retrieval-like report: each gas detected above
    1e-8 with a 0.3-dex error, an upper limit otherwise (the shape `spectral.retrieval.gas_detections` gives)."""
    catalog = catalog_view(universe.parameters, CatalogNoise().model_dump(), unknown_atmosphere(UniverseConfig()), seed=7)
    rng = np.random.default_rng(0)
    truth = np.log10(np.maximum(np.stack([universe.atmosphere[f"x_{g}"] for g in GASES], axis=1), 1e-10))
    measured = truth + rng.normal(0, 0.3, truth.shape)
    seen = truth > -8
    detections = np.stack([seen, np.where(seen, measured, -7.5), np.where(seen, 0.3, 0.0)], axis=-1).astype(float)
    return catalog, detections


def test_pairs_are_deterministic_per_planet_and_vary_their_phrasing(universe, observations):
    planets = np.arange(200)
    pairs = instruction_pairs(universe, planets, 3, *observations)
    assert pairs == instruction_pairs(universe, planets, 3, *observations)
    # a planet's text does not depend on which other planets are asked about
    assert instruction_pairs(universe, planets[50:60], 3, *observations) == pairs[50:60]
    assert instruction_pairs(universe, planets, 4, *observations) != pairs
    openings = {p.question.split(" ")[0] for p in pairs}
    assert len(openings) >= 3 and len({p.answer.split(":")[0] for p in pairs}) >= 2


def test_every_answer_parses_back_to_the_true_state_and_fraction(universe, observations):
    params = universe.parameters
    pairs = instruction_pairs(universe, np.arange(200), 0, *observations)
    for pair in pairs:
        state, fraction = parse_answer(pair.answer)
        assert state == STATES[int(params["climate_state"].iloc[pair.planet])]
        assert fraction == pytest.approx(params["habitable_fraction"].iloc[pair.planet], abs=0.005)
    assert parse_answer("I cannot tell.") == (None, None) and parse_biosphere("I cannot tell.") is None
    assert parse_answer("Its climate is globally temperate. A fraction 0.73 of the surface holds liquid water.") == ("globally_temperate", 0.73)


def test_questions_give_only_the_catalog_entry_and_the_retrieval_never_the_truth(universe, observations):
    catalog, detections = observations
    params = universe.parameters
    for pair in instruction_pairs(universe, np.arange(200), 0, *observations):
        q = pair.question
        assert "surface pressure" not in q and " bar" not in q  # no catalog gives P0
        truth, seen = params.iloc[pair.planet], catalog.iloc[pair.planet]
        stated = float(re.search(r"host star T = (\d+) K", q).group(1))
        assert stated == round(seen["T_star"]) and (stated != round(truth["T_star"]) or abs(seen["T_star"] - truth["T_star"]) < 0.5)
        if pair.observed:  # every retrieved gas is reported, as detected or as an upper limit
            for gas, (found, value, sigma) in zip(GASES, detections[pair.planet]):
                assert (f"{gas} 10^{value:.1f}±{sigma:.1f}" if found else f"no {gas} (< 10^{value:.1f})") in q


def test_biosphere_verdict_is_the_truth_and_its_evidence_only_what_was_detected(universe, observations):
    catalog, detections = observations
    atmosphere = universe.atmosphere
    for pair in instruction_pairs(universe, np.arange(200), 0, *observations):
        if not pair.observed:
            continue
        assert parse_biosphere(pair.answer) is bool(atmosphere["biosphere"].iloc[pair.planet])
        sentence = pair.answer.split("(")[1] if "Biosphere:" in pair.answer else pair.answer.split("life: ")[1]
        for gas in ("O2", "N2O", "CH4"):
            found = bool(detections[pair.planet, GASES.index(gas), 0])
            if f"{gas} at 10^" in sentence:
                assert found, (gas, pair.answer)  # a number is only ever quoted for a detection


def test_planets_without_observations_are_asked_from_their_catalog_entry_and_leave_life_unassessed(universe, observations):
    pairs = instruction_pairs(universe, np.arange(200), 0, *observations, observed_share=0.5)
    unobserved = [p for p in pairs if not p.observed]
    assert 60 <= len(unobserved) <= 140  # binomial(200, 0.5): well inside ±5.6σ
    openings = [o.split("{")[0].strip() for o in OBSERVED]
    for pair in pairs:
        assert any(o in pair.question for o in openings) is pair.observed
        assert (NOT_ASSESSED in pair.answer) is (not pair.observed)
        if not pair.observed:
            assert parse_biosphere(pair.answer) is None
    params = universe.parameters
    for pair in unobserved:
        assert parse_answer(pair.answer)[0] == STATES[int(params["climate_state"].iloc[pair.planet])]
    assert all(p.observed for p in instruction_pairs(universe, np.arange(200), 0, *observations, observed_share=1.0))
    assert not any(p.observed for p in instruction_pairs(universe, np.arange(200), 0, observations[0], None, observed_share=1.0))
