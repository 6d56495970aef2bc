"""Keys that override other keys, and a check that a value the user typed is never silently ignored.

Where two keys set the same thing, the more specific one wins:

| you typed | it is overridden by | when |
|---|---|---|
| `trainer.max_epochs` | `components.<C>.max_epochs` (not null) | C is trained (the component, each pipeline component, the studied one) |
| `trainer.max_epochs`, `components.<C>.max_epochs` | `pipeline.pretrain.max_epochs.<C>` (not null) | `--mode full`, C in phase 1 |
| `trainer.max_epochs`, `components.<C>.max_epochs` | `hpo.max_epochs` (not null) | `--optimize`, C the studied component |
| `components.<C>.<key>` that C's spec consumes (`pretrained`, `fusion`, `source`) | the pipeline's own run | `--mode full`, the phase it reads is in `pipeline.phases` |
| `run.component` | `--mode full` (every component) | `--mode full` |

A typed key that takes effect for none of the components it would apply to is refused (exit 2) with the
key that wins named, so that `trainer.max_epochs=2` never quietly trains 10 epochs.
"""

from __future__ import annotations

from ..errors import UserError
from .registry import phase_components, specs


def _typed(tree: dict, path: str) -> bool:
    node = tree
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def trained_components(cfg) -> list[str]:
    """The components this command trains."""
    if cfg.run.mode == "full":
        return [c for phase in cfg.pipeline.phases for c in phase_components(phase) if getattr(cfg.components, c).enabled]
    return [cfg.run.component]


def epochs_source(cfg, component: str) -> str:
    """The key whose value sets `component`'s epochs in this command."""
    section = getattr(cfg.components, component)
    if cfg.run.mode == "optimize" and cfg.hpo.max_epochs is not None:
        return "hpo.max_epochs"
    if cfg.run.mode == "full" and getattr(cfg.pipeline.pretrain.max_epochs, component, None) is not None:
        return f"pipeline.pretrain.max_epochs.{component}"
    if getattr(section, "max_epochs", None) is not None:
        return f"components.{component}.max_epochs"
    return "trainer.max_epochs"


def check_typed_keys_take_effect(cfg, typed: dict) -> None:
    """Refuse a typed key that a more specific key overrides for every component it would apply to."""
    problems = []
    trained = trained_components(cfg)
    if not trained and cfg.run.mode == "full":
        return
    sources = {c: epochs_source(cfg, c) for c in trained if not specs()[c].loop}  # own loops count rounds, not epochs
    if _typed(typed, "trainer.max_epochs") and all(s != "trainer.max_epochs" for s in sources.values()):
        winners = ", ".join(sorted(set(sources.values())))
        problems.append(f"trainer.max_epochs={cfg.trainer.max_epochs} takes effect for none of the components trained here: {winners} "
                        f"{'wins' if len(set(sources.values())) == 1 else 'win'}; set that key instead (or null it to fall back to trainer.max_epochs)")
    for component, source in sources.items():
        key = f"components.{component}.max_epochs"
        if _typed(typed, key) and source != key and getattr(cfg.components, component).max_epochs is not None:  # null defers on purpose
            problems.append(f"{key}={getattr(cfg.components, component).max_epochs} is overridden by {source}; set {source} instead "
                            "(or null it to fall back to the component's own)")
    if cfg.run.mode == "full":
        for component in trained:
            for key, phase in specs()[component].consumes.items():
                if phase in cfg.pipeline.phases and _typed(typed, f"components.{component}.{key}"):
                    problems.append(f"components.{component}.{key} is set by the pipeline to its own {phase} run; drop it, or leave {phase} "
                                    "out of pipeline.phases to use another run's")
        if _typed(typed, "run.component"):
            problems.append("run.component (--component) names the one component of component mode; --mode full trains them all: drop one of the two")
    if problems:
        raise UserError("a value you gave would be ignored:\n" + "\n".join(f"  - {p}" for p in problems))
