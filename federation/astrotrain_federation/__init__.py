"""astrotrain's phase-4 Flower app, for `flwr run` against a SuperLink (see ../pyproject.toml)."""
