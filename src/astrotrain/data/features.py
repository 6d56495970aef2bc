"""Model inputs from planet parameters, shared by the components."""

from __future__ import annotations

import numpy as np

from ..universe.sampling import LOG_PARAMETERS, PARAMETER_NAMES

LOG_FLOOR = {"P_rot": 1e-3, "P0": 1e-3, "CO2": 1e-6, "CH4": 1e-8}
"""Below these, log10 is taken of the floor: a real planet's assumed CH4 = 0 must not become -inf
(the universe samples CO2 >= 1e-6 and CH4 >= 1e-8, so training data are unaffected)."""


def parameter_features(table) -> np.ndarray:
    """The model's input features `[N, 8]`: log10 of log-sampled parameters, the others as they are."""
    columns = [
        np.log10(np.maximum(table[name].to_numpy(), LOG_FLOOR[name])) if name in LOG_PARAMETERS else table[name].to_numpy()
        for name in PARAMETER_NAMES
    ]
    return np.stack(columns, axis=1).astype(np.float32)
