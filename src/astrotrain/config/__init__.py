"""Configuration: the pydantic schema (every key of config/master_training.yaml) and its loader."""

from .loader import load_config
from .schema import MasterConfig

__all__ = ["MasterConfig", "load_config"]
