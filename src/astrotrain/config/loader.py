"""Loading a config: YAML file → dotted overrides → pydantic validation, every error reported at once."""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import UserError
from .schema import ComponentsConfig, MasterConfig


def yaml_loader():
    """PyYAML's SafeLoader, except that `1e-5` is a float (YAML 1.1 insists on `1.0e-5`)."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
            |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
            |\.[0-9_]+(?:[eE][-+][0-9]+)?
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$""",
            re.X,
        ),
        list("-+0123456789."),
    )
    return Loader


def load_yaml_text(text: str):
    import yaml

    return yaml.load(text, Loader=yaml_loader())  # noqa: S506 - a SafeLoader subclass


def parse_override(text: str) -> tuple[list[str], Any]:
    """`"a.b.c=value"` → (["a", "b", "c"], value parsed as YAML: `3` → int, `[1, 2]` → list)."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise UserError(f"override {text!r} is not of the form key.path=value (e.g. trainer.max_epochs=5)")
    try:
        value = load_yaml_text(raw) if raw != "" else ""
    except yaml.YAMLError as exc:
        raise UserError(f"override {text!r}: the value is not valid YAML ({exc.problem})") from None
    return key.split("."), value


def component_shorthand(keys: list[str]) -> list[str]:
    """`llm.quantization` is `components.llm.quantization`: a component's name may stand for its
    section (`--llm.quantization 4bit`, `surrogate.lr=3e-4`); top-level sections keep their names."""
    if len(keys) > 1 and keys[0] not in MasterConfig.model_fields and keys[0] in ComponentsConfig.model_fields:
        return ["components", *keys]
    return keys


def set_path(tree: dict, path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def read_yaml(path: str | Path) -> dict:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} not found; pass an existing file with --config (default: config/master_training.yaml)")
    try:
        data = load_yaml_text(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"config file {path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping of sections (run:, data:, trainer:, ...), got {type(data).__name__}")
    return data


def load_config(path: str | Path | None, overrides: list[str] = (), preset: dict | None = None) -> tuple[MasterConfig, dict]:
    """Read `path` (or the defaults when None), apply `overrides`, validate.

    Returns the validated config and the override tree (what overrides.yaml records).
    Raises UserError listing every problem with its key path.
    """
    raw = read_yaml(path) if path is not None else {}
    override_tree: dict = {}
    merge_tree: dict = {}  # the same, with mapping values marked: `key={...}` replaces the mapping, it does not merge into it
    for text in overrides:
        keys, value = parse_override(text)
        set_path(override_tree, component_shorthand(keys), value)
        set_path(merge_tree, component_shorthand(keys), Replace(value) if isinstance(value, dict) else value)
    merged = deep_merge(raw, merge_tree)
    return validate(merged, source=str(path) if path else "defaults"), override_tree


class Replace(dict):
    """A mapping given whole as an override value (`hpo.search_space.surrogate={lr: ...}`): it replaces the config's mapping."""


def deep_merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and not isinstance(value, Replace) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(dict(value) if isinstance(value, Replace) else value)
    return out


def validate(tree: dict, source: str = "config") -> MasterConfig:
    tree = upgrade_legacy_keys(tree)
    try:
        return MasterConfig.model_validate(tree)
    except ValidationError as exc:
        lines = [format_error(err) for err in exc.errors()]
        raise UserError(f"{source}: {len(lines)} config error(s):\n" + "\n".join(f"  - {line}" for line in lines)) from None


def upgrade_legacy_keys(tree: dict) -> dict:
    """Configs of runs made before `logging.backends` (logging.csv / logging.tensorboard) still load."""
    logging = tree.get("logging") if isinstance(tree, dict) else None
    if isinstance(logging, dict) and ("csv" in logging or "tensorboard" in logging) and "backends" not in logging:
        logging = dict(logging)
        logging.pop("csv", None)
        logging["backends"] = ["csv", "tensorboard"] if logging.pop("tensorboard", False) is True else ["csv"]
        tree = {**tree, "logging": logging}
    return tree


def format_error(err: dict) -> str:
    loc = [str(part) for part in err["loc"]]
    key = ".".join(loc) or "<root>"
    if err["type"] == "extra_forbidden":
        known = _known_keys(loc[:-1])
        hint = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.5)
        suggestion = f"; did you mean '{'.'.join(loc[:-1] + hint[:1])}'?" if hint else f"; known keys here: {', '.join(known)}"
        return f"{key}: unknown key{suggestion}"
    value = err.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return f"{key}: {err['msg']}{shown}"


def _known_keys(parent: list[str]) -> list[str]:
    model: type[BaseModel] | None = MasterConfig
    for part in parent:
        field = model.model_fields.get(part) if model else None
        annotation = field.annotation if field else None
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return sorted(model.model_fields) if model else []
