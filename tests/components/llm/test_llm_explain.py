"""`astrotrain explain`: the smoke pipeline's LLM explains a universe planet and a NASA archive planet."""

from __future__ import annotations

import json

import pytest

from tests.conftest import NASA_SNAPSHOT as NASA_EXPORT
from tests.conftest import needs_nasa_snapshot as needs_export
from tests.conftest import run_astrotrain as run_cli


def explained(run, *args: str) -> dict:
    res = run_cli(["explain", "--run", str(run), *args, "--json"], cwd=run.parent)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout)


def test_a_universe_planet_is_asked_about_with_its_observations_and_fusion_sees_every_modality(smoke_pipeline):
    from astrotrain.api import load_run
    from astrotrain.components.llm.data import observed_catalog
    from astrotrain.components.llm.instructions import STATES

    result = explained(smoke_pipeline, "--planet", "universe:7", "--max-new-tokens", "12")
    run = load_run(smoke_pipeline)
    universe = run.universe()
    params = universe.parameters.iloc[7]
    seen = observed_catalog(run.fusion_config(), universe).iloc[7]  # the question gives the catalog entry, with its noise
    assert result["universe_planet"] == 7
    assert f"T = {seen['T_star']:.0f} K" in result["question"] and f"radius {seen['radius']:.2f} R_earth" in result["question"]
    assert f"radius {params['radius']:.2f} R_earth" not in result["question"] or abs(seen["radius"] - params["radius"]) < 0.005
    assert "bar" not in result["question"] and "transmission spectrum" in result["question"]  # no P0; the retrieval's gases
    assert result["truth"] == {"climate_state": STATES[int(params["climate_state"])], "habitable_fraction": pytest.approx(params["habitable_fraction"]),
                               "biosphere": bool(universe.atmosphere["biosphere"].iloc[7])}
    assert result["fusion"]["modalities_used"] == load_run(smoke_pipeline).fusion().modalities
    assert result["fusion"]["climate_state"] in STATES and 0 <= result["fusion"]["habitable_fraction"] <= 1
    assert 0 < len(result["answer"]) and result["answer"] == explained(smoke_pipeline, "--planet", "7", "--max-new-tokens", "12")["answer"]


@needs_export
def test_a_catalog_planet_is_mapped_and_asked_about_from_its_parameters_alone(smoke_pipeline):
    from astrotrain.data.mapping import SOLAR_CONSTANT

    result = explained(smoke_pipeline, "--planet", "trappist-1 E", "--catalog", str(NASA_EXPORT), "--max-new-tokens", "12")
    assert result["catalog_planet"] == "TRAPPIST-1 e"
    # the archive's values (st_teff 2566 K, pl_insol 0.65 S⊕, pl_rade 0.92 R⊕), through the mapping
    assert result["parameters"]["T_star"] == 2566 and result["parameters"]["F_star"] == pytest.approx(0.65 * SOLAR_CONSTANT)
    assert "T = 2566 K (an M dwarf)" in result["question"] and "transmission spectrum" not in result["question"]
    assert result["fusion"]["modalities_used"] == ["parameters"]
    assert result["in_extended_domain"] is True and result["imputed"] is None


@needs_export
def test_a_misspelt_catalog_planet_gets_a_did_you_mean(smoke_pipeline):
    res = run_cli(["explain", "--run", str(smoke_pipeline), "--planet", "trapist-1 e", "--catalog", str(NASA_EXPORT)], cwd=smoke_pipeline.parent)
    assert res.returncode == 2 and "did you mean 'TRAPPIST-1 e'" in res.stderr and "Traceback" not in res.stderr


def test_a_universe_planet_out_of_range_is_a_clear_error(smoke_pipeline):
    res = run_cli(["explain", "--run", str(smoke_pipeline), "--planet", "universe:100000"], cwd=smoke_pipeline.parent)
    assert res.returncode == 2 and "the run's universe has planets 0 to 239" in res.stderr and "Traceback" not in res.stderr


def test_a_run_without_a_finished_llm_phase_is_a_clear_error(smoke_pipeline, tmp_path):
    res = run_cli(["explain", "--run", str(smoke_pipeline / "phases" / "2-integrate"), "--planet", "universe:1"], cwd=tmp_path)
    assert res.returncode == 2 and "neither a --mode full run nor an llm component run" in res.stderr
    res = run_cli(["explain", "--run", str(tmp_path), "--planet", "universe:1"], cwd=tmp_path)
    assert res.returncode == 2 and "not an astrotrain run directory" in res.stderr
    res = run_cli(["explain", "--planet", "universe:1"], cwd=tmp_path)
    assert res.returncode == 2 and "--run" in res.stderr


def test_planets_explained_without_a_catalog_say_how_to_get_one(smoke_pipeline, tmp_path):
    res = run_cli(["explain", "--run", str(smoke_pipeline), "--planet", "Kepler-442 b"], cwd=tmp_path)
    assert res.returncode == 2 and "--catalog" in res.stderr and "astrotrain data fetch nasa" in res.stderr
