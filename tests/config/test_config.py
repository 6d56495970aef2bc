"""The config schema: 100% of keys documented in the master YAML, every key checked."""

from __future__ import annotations

import pytest
import yaml
from pydantic import BaseModel

from astrotrain.config.loader import load_config, parse_override
from astrotrain.config.schema import MasterConfig
from astrotrain.errors import UserError
from tests.conftest import ROOT

MASTER = ROOT / "config" / "master_training.yaml"


def schema_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys |= schema_keys(ann, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def yaml_keys(tree: dict, prefix: str = "", mappings: frozenset[str] = frozenset()) -> set[str]:
    """Dotted keys of a YAML tree; a key in `mappings` (a dict-valued setting) is a leaf."""
    keys = set()
    for name, value in tree.items():
        if isinstance(value, dict) and f"{prefix}{name}" not in mappings:
            keys |= yaml_keys(value, f"{prefix}{name}.", mappings)
        else:
            keys.add(f"{prefix}{name}")
    return keys


def test_master_config_lists_every_schema_key_and_nothing_else():
    tree = yaml.safe_load(MASTER.read_text())
    schema = schema_keys(MasterConfig)
    assert yaml_keys(tree, mappings=frozenset(schema)) == schema


def test_the_master_config_is_what_the_schema_writes_and_every_key_is_described():
    from astrotrain.config.reference import markdown, yaml_text

    assert MASTER.read_text() == yaml_text(), "config/master_training.yaml is stale: python -m astrotrain.config.reference --yaml > config/master_training.yaml"
    undocumented = []

    def walk(model, prefix=""):
        for name, field in model.model_fields.items():
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                walk(field.annotation, f"{prefix}{name}.")
            elif not field.description:
                undocumented.append(prefix + name)

    walk(MasterConfig)
    assert undocumented == []
    reference = markdown()
    assert all(f"| `{key.rsplit('.', 1)[-1]}` |" in reference for key in schema_keys(MasterConfig))
    assert "## `components.datacube`" in reference and "## `trainer`" in reference


def test_master_config_states_exactly_the_schema_defaults():
    """A preset or user config that omits a key gets the value the master config documents."""
    cfg, _ = load_config(MASTER)
    assert cfg == MasterConfig()
    assert cfg.data.universe.n_planets == 6000


def test_overrides_are_parsed_as_yaml_values():
    assert parse_override("trainer.max_epochs=5") == (["trainer", "max_epochs"], 5)
    assert parse_override("data.universe.co2_range=[1e-5, 0.5]") == (["data", "universe", "co2_range"], [1e-5, 0.5])
    assert parse_override("run.name=abc") == (["run", "name"], "abc")
    cfg, tree = load_config(MASTER, ["trainer.max_epochs=5", "components.surrogate.lr=3e-4"])
    assert cfg.trainer.max_epochs == 5 and cfg.components.surrogate.lr == pytest.approx(3e-4)
    assert tree == {"trainer": {"max_epochs": 5}, "components": {"surrogate": {"lr": 3e-4}}}


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("data.split.train=0.9", "train + val + test must be 1"),
        ("data.universe.ch4_range=[1e-8, 0.2]", "CH4 <= 0.05 (CLERO's domain)"),
        ("trainer.precision=fp8", "trainer.precision"),
        ("components.surrogate.n_heads=0", "components.surrogate.n_heads: Input should be greater than or equal to 1"),
        ("components.surrogate.d_modle=3", "did you mean 'components.surrogate.d_model'"),
        ("run.name=has space", "run.name"),
        ("components.surrogate.n_heads=3", "d_model=64 must be a multiple of n_heads=3"),
    ],
)
def test_invalid_values_name_their_key(override, needle):
    with pytest.raises(UserError) as info:
        load_config(MASTER, [override])
    assert needle in info.value.message


def test_a_mapping_given_whole_as_an_override_replaces_the_config_s_mapping():
    cfg, tree = load_config(MASTER, ["hpo.search_space.surrogate={lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}}",
                                     "components.surrogate.lr=3e-4"])
    assert list(cfg.hpo.search_space["surrogate"]) == ["lr"]  # not merged into the master's five keys
    assert "spectral" in cfg.hpo.search_space and cfg.components.surrogate.d_model == 64  # dotted paths still merge
    assert tree["hpo"]["search_space"]["surrogate"]["lr"]["high"] == 1e-2
