"""What a folder of runs holds, and how runs differ: the data behind `astrotrain runs`, `astrotrain compare`.

Everything is read from the run directories alone (config.yaml, provenance.json, pipeline.json,
metrics.json): no server, no database.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import yaml

from ..config.registry import specs
from ..config.spec import PHASES
from ..errors import UserError
from . import layout as rd


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except json.JSONDecodeError:
        return None


def is_run(path: Path) -> bool:
    return (path / rd.CONFIG_FILE).is_file()


def component_runs(run: Path) -> dict[str, Path]:
    """label → run directory of every component run in `run` (itself for a component run)."""
    pipeline = _json(run / rd.PIPELINE_FILE)
    if pipeline is None:
        config = yaml.safe_load((run / rd.CONFIG_FILE).read_text()) or {}
        return {config.get("run", {}).get("component", run.name): run}
    out = {}
    for phase, record in pipeline["phases"].items():
        folder = run / record["dir"]
        if phase == "pretrain":
            out.update({name: folder / name for name in specs() if (folder / name / rd.CONFIG_FILE).is_file()})
        elif (folder / rd.CONFIG_FILE).is_file():
            out[(_json(folder / rd.METRICS_FILE) or {}).get("component") or phase] = folder
    return out


def status_of(run: Path) -> str:
    """finished / interrupted / failed (a pipeline: finished / failed / unfinished, and its phases' states in order,
    e.g. 'pretrain ✓ integrate ✗'; unfinished is a pipeline still running or stopped part-way)."""
    pipeline = _json(run / rd.PIPELINE_FILE)
    if pipeline is not None:
        marks = {"finished": "✓", "skipped": "–", "failed": "✗", "interrupted": "‖", "running": "…", "pending": "·"}
        phases = {name: pipeline["phases"][name] for name in PHASES if name in pipeline["phases"]}
        states = [p["status"] for p in phases.values()]
        overall = ("finished" if all(s in ("finished", "skipped") for s in states) else "failed" if "failed" in states else "unfinished")
        return overall + " (" + " ".join(f"{name} {marks.get(p['status'], '?')}" for name, p in phases.items()) + ")"
    metrics = _json(run / rd.METRICS_FILE)
    if metrics is None:
        return "interrupted" if any((run / "checkpoints").glob("*.ckpt")) else "failed"
    return "finished" if "test" in metrics or metrics.get("component") in ("galactic", "production") else "interrupted"


def headline(metrics: dict, component: str) -> tuple[str, float] | None:
    spec = specs().get(component)
    test = metrics.get("test") or {}
    for key in (spec.science_metrics if spec else ()):
        if isinstance(test.get(key), (int, float)):
            return key, float(test[key])
    return None


def describe_lineage(lineage: dict | None) -> str:
    """One line on where a run's weights came from: 'fresh', or its parent run, step and what was carried over."""
    if not lineage:
        return "fresh"
    where = f"{Path(lineage['run']).name}@{lineage['global_step']}"
    if lineage["kind"] == "fork":
        changed = [d.split(":")[0] for d in lineage.get("config_changes", []) if not d.startswith("run.name")]
        return f"fork of {where}" + (f" ({', '.join(changed)})" if changed else "")
    extras = [f"{lineage['loaded']} loaded", f"{len(lineage['fresh'])} fresh"]
    if lineage["frozen"]:
        extras.append(f"{len(lineage['frozen'])} frozen")
    if lineage["lr_multiplier"] != 1.0:
        extras.append(f"lr ×{lineage['lr_multiplier']:g}")
    return f"init from {where} ({', '.join(extras)})"


def summary(run: Path) -> dict:
    """One line of `astrotrain runs`."""
    provenance = _json(run / rd.PROVENANCE_FILE) or {}
    pipeline = _json(run / rd.PIPELINE_FILE)
    parts, wall = {}, 0.0
    for label, folder in component_runs(run).items():
        metrics = _json(folder / rd.METRICS_FILE) or {}
        wall += float((metrics.get("train") or {}).get("wall_time_s") or 0.0)
        found = headline(metrics, label)
        if found:
            parts[label] = {"metric": found[0], "value": found[1]}
    if pipeline is not None:
        wall = sum(float(p.get("wall_time_s") or 0.0) for p in pipeline["phases"].values())
    config = yaml.safe_load((run / rd.CONFIG_FILE).read_text()) or {}
    return {"run": str(run), "name": run.name, "kind": "pipeline" if pipeline is not None else config.get("run", {}).get("component", "?"),
            "status": status_of(run), "started": provenance.get("created"), "wall_time_s": round(wall, 1), "headline": parts,
            "parent": describe_lineage(provenance.get("lineage")), "lineage": provenance.get("lineage"),
            "git": ((provenance.get("git") or {}).get("sha") or "")[:10]}


def list_runs(folder: Path) -> list[dict]:
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder of runs; give the run.output_dir to list (default: runs)")
    runs = [p for p in sorted(folder.iterdir()) if p.is_dir() and is_run(p)]
    return [summary(p) for p in sorted(runs, key=lambda p: ((_json(p / rd.PROVENANCE_FILE) or {}).get("created") or "", p.name))]


def _flatten(tree, prefix: str = "") -> dict:
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def compare(paths: list[Path]) -> dict:
    """The config keys whose values differ between runs, and their held-out metrics side by side (with the
    95 % bootstrap interval where the run recorded one)."""
    for path in paths:
        if not is_run(path):
            raise UserError(f"{path} is not an astrotrain run directory (no {rd.CONFIG_FILE}); give run directories to compare")
    configs = [_flatten(yaml.safe_load((p / rd.CONFIG_FILE).read_text()) or {}) for p in paths]
    keys = sorted(set().union(*configs))
    differing = {k: [c.get(k) for c in configs] for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1}
    metrics: dict[str, list] = {}
    for i, path in enumerate(paths):
        for label, folder in component_runs(path).items():
            record = _json(folder / rd.METRICS_FILE) or {}
            intervals = _intervals(record)
            for key, value in (record.get("test") or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    metrics.setdefault(f"{label}: {key}", [None] * len(paths))[i] = {"value": float(value), "ci95": intervals.get(key)}
    return {"runs": [str(p) for p in paths], "config_differences": differing, "metrics": metrics}


def _intervals(record: dict) -> dict:
    """Bootstrap intervals a run recorded: production's `heldout` ({model/backend: {metric, ci95: {metric: [lo, hi]}}})."""
    out = {}
    for model, values in (record.get("heldout") or {}).items():
        for metric, interval in (values.get("ci95") or {}).items():
            out[f"{model.replace('/', '_').replace('-', '_')}_{metric}"] = interval
    return out


def age(started: str | None) -> str:
    if not started:
        return "?"
    try:
        return datetime.fromisoformat(started).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return started
