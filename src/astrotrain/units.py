"""Physical units: one pint registry that reads the spellings GCM files and tables use."""

from __future__ import annotations

import functools
import re


@functools.cache
def unit_registry():
    """A pint registry that also reads UDUNITS exponents (`W m-2`, `m2`) and CESM's `fraction`."""
    import pint

    def udunits_exponents(text: str) -> str:  # "W m-2" → "W m**-2"; "1" and "degC" are untouched
        text = re.sub(r"\bmb\b", "mbar", text)  # a GCM's "mb" is the millibar (ModelE), not pint's millibarn
        return re.sub(r"(?<=[A-Za-z])(?=-?\d)", "**", text)

    registry = pint.UnitRegistry(preprocessors=[udunits_exponents])
    registry.define("fraction = 1")
    registry.define("R_earth = 6.371e6 m")  # for sidecar parameter tables
    registry.define("S_earth = 1361 W m**-2")
    return registry
