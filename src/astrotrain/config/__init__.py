"""Configuration: the pydantic schema (every key of config/master_training.yaml) and its loader.

`MasterConfig` and `load_config` are imported lazily, so that a component's `config.py` can use
`config.base` without importing the schema that assembles it.
"""

__all__ = ["MasterConfig", "load_config"]


def __getattr__(name: str):
    if name == "MasterConfig":
        from .schema import MasterConfig

        return MasterConfig
    if name == "load_config":
        from .loader import load_config

        return load_config
    raise AttributeError(name)
