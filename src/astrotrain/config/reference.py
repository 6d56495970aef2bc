"""The configuration, written out from the schema: `config/master_training.yaml` and the reference page.

The pydantic models are the one source of every key, default and description (decision 8):

    python -m astrotrain.config.reference --yaml > config/master_training.yaml
    python -m astrotrain.config.reference --markdown > docs/reference/configuration.md

A test checks that the committed YAML is what the schema writes (`tests/config/`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml
from pydantic import BaseModel

from .schema import MasterConfig

COMMENT_COLUMN = 28
HEADER = """\
# astrotrain master config — generated from the schema (python -m astrotrain.config.reference --yaml); do not edit by hand.
# Every key with its default and meaning. Override any of them on the command line (key.path=value or
# --key.path value), or copy this file and pass --config. The reference: docs/reference/configuration.md.
"""


def _sections(model: type[BaseModel]):
    """(name, field, sub-model or None) of a model's fields, in declaration order."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        sub = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        yield name, field, sub


def _first_sentence(doc: str | None) -> str | None:
    text = " ".join((doc or "").split())
    if not text or text.startswith(("Usage docs", "!!!")):
        return None
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _without_nulls(value: Any) -> Any:
    """A default's nested null entries dropped (they are the schema's own defaults: the YAML reads the same without them)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _inline(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _line(indent: int, text: str, comment: str | None) -> str:
    line = " " * indent + text
    return f"{line.ljust(COMMENT_COLUMN - 1)} # {comment}" if comment else line


def yaml_text() -> str:
    """The master config: every key at its default, its description as the comment."""
    values = MasterConfig().model_dump(mode="json")
    lines = [HEADER.rstrip()]

    def walk(model: type[BaseModel], data: dict, indent: int) -> None:
        for name, field, sub in _sections(model):
            if sub is not None:
                comment = field.description or _first_sentence(sub.__doc__)
                if indent == 0:
                    lines.append("")
                lines.append(_line(indent, f"{name}:", comment))
                walk(sub, data[name], indent + 2)
                continue
            value = data[name]
            inline = _inline(value)
            if isinstance(value, (dict, list)) and value and (len(inline) > 60 or any(isinstance(v, (dict, list)) for v in (value.values() if isinstance(value, dict) else value))):
                lines.append(_line(indent, f"{name}:", field.description))
                block = yaml.safe_dump(_without_nulls(value), default_flow_style=None, width=100, sort_keys=False).rstrip().splitlines()
                lines.extend(" " * (indent + 2) + b for b in block)
            else:
                lines.append(_line(indent, f"{name}: {inline}", field.description))

    walk(MasterConfig, values, 0)
    return "\n".join(lines) + "\n"


def _constraints(field) -> str:
    parts = []
    for meta in field.metadata:
        for key, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("min_length", "min length"), ("pattern", "pattern")):
            if getattr(meta, key, None) is not None:
                parts.append(f"{symbol} {getattr(meta, key)}")
    return ", ".join(parts)


def _type_name(annotation) -> str:
    text = getattr(annotation, "__name__", None) if getattr(annotation, "__args__", None) is None else None
    return text or str(annotation).replace("typing.", "").replace("NoneType", "None")


def markdown() -> str:
    """The configuration reference: every section, every key with its type, default, bounds and meaning."""
    values = MasterConfig().model_dump(mode="json")
    out = ["# Configuration reference", "",
           "Generated from the schema (`python -m astrotrain.config.reference --markdown`); the same keys, defaults and",
           "descriptions as `config/master_training.yaml`. Override any key as `key.path=value` on the command line.", ""]

    def walk(model: type[BaseModel], data: dict, path: str) -> None:
        rows, subs = [], []
        for name, field, sub in _sections(model):
            if sub is not None:
                subs.append((name, sub))
                continue
            default = json.dumps(data[name], ensure_ascii=False)
            default = default if len(default) < 80 else default[:77] + "…"
            rows.append(f"| `{name}` | `{_type_name(field.annotation)}` | `{default}` | {_constraints(field)} | {field.description or ''} |")
        if rows:
            doc = (model.__doc__ or "").strip()
            out.extend([f"## `{path}`" if path else "## top level", ""])
            if doc and not doc.startswith("Usage docs") and not doc.startswith("!!!"):
                out.extend([doc, ""])
            out.extend(["| key | type | default | bounds | meaning |", "|---|---|---|---|---|", *[r.replace("\n", " ") for r in rows], ""])
        for name, sub in subs:
            walk(sub, data[name], f"{path}.{name}" if path else name)

    walk(MasterConfig, values, "")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m astrotrain.config.reference", description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--yaml", action="store_true", help="the master config YAML")
    what.add_argument("--markdown", action="store_true", help="the configuration reference page")
    args = parser.parse_args(argv)
    sys.stdout.write(yaml_text() if args.yaml else markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
