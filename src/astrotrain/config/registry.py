"""The one registry of components: the `SPEC` each `components/<name>/__init__.py` exports.

The specs are found by scanning the `components` package (a plugin scan: this lower layer never
imports the components statically, `docs/decisions/0007`). Everything that lists components derives
from `specs()`: the config schema's components section, the pipeline's phases, fusion's modalities.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from functools import lru_cache

from ..errors import UserError
from .spec import PHASES, ComponentSpec

COMPONENTS_PACKAGE = "astrotrain.components"


@lru_cache(maxsize=1)
def specs() -> dict[str, ComponentSpec]:
    """Every component, in pipeline order (phase, then its position)."""
    package = importlib.import_module(COMPONENTS_PACKAGE)
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        spec = getattr(importlib.import_module(f"{COMPONENTS_PACKAGE}.{info.name}"), "SPEC", None) if info.ispkg else None
        if spec is not None:
            if spec.name != info.name or spec.phase not in PHASES:
                raise RuntimeError(f"components/{info.name}: SPEC.name must be {info.name!r} and SPEC.phase one of {PHASES}")
            found.append(spec)
    return {s.name: s for s in sorted(found, key=lambda s: (PHASES.index(s.phase), s.order, s.name))}


def get_component(name: str) -> ComponentSpec:
    """The spec of `name`, or a clear error listing what exists."""
    known = specs()
    if name in known:
        return known[name]
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise UserError(f"unknown component '{name}'.{hint} Available: {', '.join(known)}.")


def phase_components(phase: str) -> list[str]:
    """The components a phase trains, in order."""
    return [name for name, spec in specs().items() if spec.phase == phase]


def fusion_modalities() -> dict[str, ComponentSpec]:
    """Modality → the component that lends its encoder to fusion."""
    lenders = sorted((spec for spec in specs().values() if spec.lends is not None), key=lambda spec: spec.lends.position)
    return {spec.lends.modality: spec for spec in lenders}


def resume_safe_component_keys() -> tuple[str, ...]:
    """Where a component reads an earlier phase's run: a moved run directory must still resume."""
    return tuple(f"components.{name}.{key}" for name, spec in specs().items() for key in spec.consumes)
