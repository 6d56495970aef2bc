"""The LLM's instruction data (issue #8, first part): deterministic pairs whose answers parse back to the truth."""

from __future__ import annotations

import numpy as np
import pytest

from astrotrain.components.llm.instructions import STATES, instruction_pairs, parse_answer, parse_biosphere
from astrotrain.config.schema import UniverseConfig
from astrotrain.universe.generate import ensure_universe


@pytest.fixture(scope="module")
def universe(data_cache):
    return ensure_universe(UniverseConfig(n_planets=200, cache_dir=str(data_cache)), progress=False)


def test_pairs_are_deterministic_per_planet_and_vary_their_phrasing(universe):
    planets = np.arange(200)
    pairs = instruction_pairs(universe, planets, seed=3)
    assert pairs == instruction_pairs(universe, planets, seed=3)
    # a planet's text does not depend on which other planets are asked about
    assert instruction_pairs(universe, planets[50:60], seed=3) == pairs[50:60]
    assert instruction_pairs(universe, planets, seed=4) != pairs
    openings = {p.question.split(" ")[0] for p in pairs}
    assert len(openings) >= 3 and len({p.answer.split(":")[0] for p in pairs}) >= 2


def test_every_answer_parses_back_to_the_true_state_and_fraction(universe):
    params = universe.parameters
    pairs = instruction_pairs(universe, np.arange(200), seed=0)
    for pair in pairs:
        state, fraction = parse_answer(pair.answer)
        assert state == STATES[int(params["climate_state"].iloc[pair.planet])]
        assert fraction == pytest.approx(params["habitable_fraction"].iloc[pair.planet], abs=0.005)
    assert parse_answer("I cannot tell.") == (None, None) and parse_biosphere("I cannot tell.") is None
    assert parse_answer("Its climate is globally temperate. A fraction 0.73 of the surface is between 273 and 373 K.") == ("globally_temperate", 0.73)


def test_biosphere_evidence_follows_the_scenario(universe):
    atmosphere = universe.atmosphere
    for pair in instruction_pairs(universe, np.arange(200), seed=0):
        inhabited = bool(atmosphere["biosphere"].iloc[pair.planet])
        assert parse_biosphere(pair.answer) is inhabited
        if atmosphere["scenario"].iloc[pair.planet].startswith("abiotic_") and atmosphere["x_O2"].iloc[pair.planet] > 0:
            assert "abiotic oxygen" in pair.answer  # the false positives are explained, not flagged as life


def test_planets_without_observations_are_asked_from_their_parameters_and_leave_life_unassessed(universe):
    from astrotrain.components.llm.instructions import NOT_ASSESSED, OBSERVED

    pairs = instruction_pairs(universe, np.arange(200), seed=0, observed_share=0.5)
    unobserved = [p for p in pairs if not p.observed]
    assert 60 <= len(unobserved) <= 140  # binomial(200, 0.5): well inside ±5.6σ
    openings = [o.split("{")[0].strip() for o in OBSERVED]
    for pair in pairs:
        assert any(o in pair.question for o in openings) is pair.observed
        assert (NOT_ASSESSED in pair.answer) is (not pair.observed)
        if not pair.observed:
            assert parse_biosphere(pair.answer) is None
    # the climate state and fraction are stated either way
    params = universe.parameters
    for pair in unobserved:
        assert parse_answer(pair.answer)[0] == STATES[int(params["climate_state"].iloc[pair.planet])]
    assert all(p.observed for p in instruction_pairs(universe, np.arange(200), seed=0, observed_share=1.0))
