"""`astrotrain runs [DIR]`, `astrotrain compare RUN RUN [...]`, `astrotrain report RUN`: runs you can find and compare,
from their run directories alone."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from ..runs.listing import age, compare, list_runs


def _render(headers: list[str], rows: list[list], fmt: str, title: str = "") -> str:
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(headers)
        writer.writerows(rows)
        return buffer.getvalue()
    if fmt == "markdown":
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
        return "\n".join(lines) + "\n"
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title or None)
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*[str(c) for c in row])
    buffer = io.StringIO()
    Console(file=buffer, width=200, force_terminal=False).print(table)
    return buffer.getvalue()


def _value(entry: dict | None) -> str:
    if entry is None:
        return "—"
    text = f"{entry['value']:.4g}"
    return text + (f" [{entry['ci95'][0]:.4g}, {entry['ci95'][1]:.4g}]" if entry.get("ci95") else "")


def run_runs(args) -> int:
    found = list_runs(Path(args.folder))
    if args.format == "json":
        sys.stdout.write(json.dumps(found, indent=1) + "\n")
        return 0
    rows = [[r["name"], r["kind"], r["status"], age(r["started"]), f"{r['wall_time_s']:.0f} s",
             "; ".join(f"{label} {h['metric']}={h['value']:.4g}" for label, h in r["headline"].items()) or "—", r["parent"], r["git"] or "—"]
            for r in found]
    sys.stdout.write(_render(["run", "kind", "status", "started", "wall time", "headline metrics", "weights from", "git"], rows, args.format,
                             f"{len(found)} run(s) in {args.folder}"))
    return 0


def run_compare(args) -> int:
    result = compare([Path(p) for p in args.runs])
    if args.format == "json":
        sys.stdout.write(json.dumps(result, indent=1) + "\n")
        return 0
    names = [Path(p).name for p in result["runs"]]
    config_rows = [[key, *[json.dumps(v) for v in values]] for key, values in result["config_differences"].items()]
    metric_rows = [[key, *[_value(v) for v in values]] for key, values in result["metrics"].items()]
    out = _render(["config key", *names], config_rows, args.format, "config keys that differ")
    out += ("\n" if args.format != "csv" else "") + _render(["held-out metric", *names], metric_rows, args.format, "metrics (test split)")
    sys.stdout.write(out)
    return 0


def run_report(args) -> int:
    from ..report.html import write_report
    from ..runs.run import open_run

    run = open_run(args.run)
    print(write_report(run.path))
    return 0
