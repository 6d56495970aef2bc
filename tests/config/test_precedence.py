"""A value the user typed takes effect or is refused, naming the key that wins (config/precedence.py)."""

from __future__ import annotations

import pytest

from astrotrain.config.loader import load_config
from astrotrain.config.precedence import check_typed_keys_take_effect, epochs_source
from astrotrain.errors import UserError
from tests.conftest import ROOT, SMOKE, run_cli, smoke_args

MASTER = ROOT / "config" / "master_training.yaml"


def typed(*overrides: str, config=MASTER):
    cfg, tree = load_config(config, list(overrides))
    return cfg, tree


@pytest.mark.parametrize("overrides, winner", [
    (["run.component=datacube", "trainer.max_epochs=2"], "components.datacube.max_epochs"),  # the component's own epochs win
    (["run.mode=full", "trainer.max_epochs=2"], "pipeline.pretrain.max_epochs.surrogate"),  # the pipeline's phase-1 epochs win
    (["run.mode=full", "components.spectral.max_epochs=3"], "pipeline.pretrain.max_epochs.spectral"),
    (["run.mode=optimize", "run.component=spectral", "hpo.max_epochs=4", "components.spectral.max_epochs=3"], "hpo.max_epochs"),
    (["run.mode=full", "components.llm.fusion=/elsewhere"], "set by the pipeline to its own integrate run"),
    (["run.mode=full", "run.component=datacube"], "--mode full trains them all: drop one of the two"),
])
def test_a_typed_key_that_another_overrides_is_refused_naming_the_winner(overrides, winner):
    cfg, tree = typed(*overrides)
    with pytest.raises(UserError) as err:
        check_typed_keys_take_effect(cfg, tree)
    assert winner in err.value.message and overrides[-1].split("=")[0] in err.value.message


@pytest.mark.parametrize("overrides, component, source", [
    (["trainer.max_epochs=2"], "surrogate", "trainer.max_epochs"),  # the surrogate has no epochs of its own
    (["run.component=datacube", "components.datacube.max_epochs=2"], "datacube", "components.datacube.max_epochs"),
    (["run.component=datacube", "components.datacube.max_epochs=null", "trainer.max_epochs=2"], "datacube", "trainer.max_epochs"),
    (["run.mode=full", "pipeline.pretrain.max_epochs.surrogate=null", "trainer.max_epochs=2"], "surrogate", "trainer.max_epochs"),
])
def test_a_typed_key_that_takes_effect_is_accepted_and_is_the_source(overrides, component, source):
    cfg, tree = typed(*overrides)
    check_typed_keys_take_effect(cfg, tree)
    assert epochs_source(cfg, component) == source


def test_the_cli_refuses_a_losing_key_with_exit_2_and_writes_nothing(tmp_path, data_cache):
    res = run_cli(smoke_args(tmp_path, data_cache, "--component", "datacube", "trainer.max_epochs=2"), cwd=tmp_path)
    assert res.returncode == 2 and "components.datacube.max_epochs" in res.stderr and "trainer.max_epochs=2" in res.stderr
    assert not (tmp_path / "runs").exists()


def test_run_directories_are_named_after_what_runs(tmp_path):
    from astrotrain.config.schema import MasterConfig

    cfg = MasterConfig()
    assert cfg.run.name is None and cfg.run.directory_name == "surrogate"
    cfg.run.component = "datacube"
    assert cfg.run.directory_name == "datacube"
    cfg.run.mode = "full"
    assert cfg.run.directory_name == "full"
    cfg.run.name = "mine"
    assert cfg.run.directory_name == "mine"
    smoke, _ = load_config(SMOKE, ["run.name=null", "run.component=graph_vae"])
    assert smoke.run.directory_name == "graph_vae"
