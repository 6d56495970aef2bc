"""report.html: what a person looks at first (DESIGN.md, "Run directory").

One self-contained HTML file (inline CSS, no scripts, no network) in the run directory, with
PNGs referenced by relative paths, so the folder opens from disk or from a copy of it:
the status of every phase (pipeline runs), the metrics of every component run, its training
curves (drawn here from its CSV log into `report/`) and the science plots its `report.py` saved in
`<run>/plots/`, the ablation table of fusion, the resolved config and the provenance.
Written at the end of every run and, for `--mode full`, after every phase and on failure.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from pathlib import Path

from ..config.registry import specs
from ..config.schema import PHASE_NAMES
from ..fsutil import atomic_write_text
from ..plots import PLOTS_DIR, training_curves
from ..runs import layout as rd
from ..runs.listing import describe_lineage
from .science import leakage_section, sanity_section, validity_section

REPORT_ASSETS = "report"  # <run>/report/*.png: the plots drawn for the report itself

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1180px;color:#1b1f24;padding:0 1em}
h1{font-size:1.6em} h2{border-bottom:2px solid #d0d7de;padding-bottom:.2em;margin-top:1.8em} h3{margin-bottom:.3em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em} td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:left}
th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums}
.finished{color:#1a7f37;font-weight:600} .skipped{color:#6e7781} .failed,.interrupted{color:#cf222e;font-weight:600}
.running,.pending{color:#9a6700} img{max-width:100%;border:1px solid #eaeef2;margin:.4em 0}
.gallery{display:flex;flex-wrap:wrap;gap:1em} .gallery figure{margin:0;flex:1 1 520px} figcaption{font-size:.8em;color:#57606a}
pre{background:#f6f8fa;padding:.8em;overflow:auto;font-size:.8em;max-height:32em}
"""


def write_report(run: Path) -> Path:
    """Render `<run>/report.html` for a pipeline run or a single component run; returns its path."""
    run = Path(run)
    parts = [f"<h1>astrotrain run <code>{_e(run.name)}</code></h1>",
             f"<p>Report written {datetime.now(timezone.utc).isoformat(timespec='seconds')} · folder <code>{_e(run.resolve())}</code></p>"]
    pipeline = _json(run / rd.PIPELINE_FILE)
    study = _json(run / "study.json")
    if study:
        parts.append(_study_section(study))
    elif pipeline:
        parts.append(_phase_table(pipeline))
        for phase in PHASE_NAMES:
            record = pipeline["phases"][phase]
            folder = run / record["dir"]
            component_runs = [folder] if (folder / rd.CONFIG_FILE).is_file() else [folder / c for c in specs() if (folder / c / rd.CONFIG_FILE).is_file()]
            if component_runs:
                parts.append(f"<h2>Phase {_e(record['dir'].split('/')[-1])}</h2>")
                parts += [_component_section(run, c) for c in component_runs]
    else:
        parts.append(_component_section(run, run))
    parts.append(_text_block("Resolved config", run / rd.CONFIG_FILE))
    parts.append(_text_block("Provenance", run / rd.PROVENANCE_FILE))
    page = f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>astrotrain · {_e(run.name)}</title><style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n"
    path = run / rd.REPORT_FILE
    atomic_write_text(path, page)
    return path


def referenced_images(report: Path) -> list[Path]:
    """The image files report.html points to (for tests and link checks)."""
    import re

    return [report.parent / src for src in re.findall(r"<img[^>]*src='([^']+)'", report.read_text())]


def _phase_table(pipeline: dict) -> str:
    rows = []
    for phase in PHASE_NAMES:
        record = pipeline["phases"][phase]
        wall = record.get("wall_time_s")
        parts = "; ".join(f"{name} {c['total_s']:.0f} s" for name, c in record.get("components", {}).items() if c.get("total_s") is not None)
        one_off = "; ".join(f"{step} {seconds:.0f} s" for step, seconds in record.get("one_off_s", {}).items())
        rows.append(f"<tr><td>{_e(record['dir'].split('/')[-1])}</td><td class='{_e(record['status'])}'>{_e(record['status'])}</td>"
                    f"<td class='num'>{'' if wall is None else f'{wall / 60:.1f} min'}</td><td>{_e(parts)}</td><td>{_e(one_off)}</td>"
                    f"<td>{_e(record.get('reason') or '')}</td></tr>")
    return ("<h2>Pipeline</h2><table><tr><th>phase</th><th>status</th><th>wall time</th><th>per component</th><th>of which one-off steps</th>"
            "<th>note</th></tr>" + "".join(rows) + "</table>")


def _component_section(root: Path, run: Path) -> str:
    config = _yaml(run / rd.CONFIG_FILE) or {}
    component = config.get("run", {}).get("component", run.name)
    metrics = _json(run / rd.METRICS_FILE) or {}
    out = [f"<h3>{_e(component)}</h3>"]
    lineage = (_json(run / rd.PROVENANCE_FILE) or {}).get("lineage")
    if lineage:
        out.append(_lineage_block(lineage))
    if "test" in metrics:
        out.append(_metrics_table(metrics))
    else:
        out.append("<p class='interrupted'>not finished: no held-out metrics yet</p>")
    out.append(leakage_section(run))
    ablation = _json(run / "ablation.json")
    if ablation:
        out.append(_ablation_table(ablation))
    out.append(validity_section(run))
    benchmark = _json(run / "benchmark.json")
    if benchmark:
        out.append(_benchmark_table(benchmark))
    if (run / "MODEL_CARD.md").is_file():
        out.append(f"<p>Model card: <a href='{_e((run / 'MODEL_CARD.md').relative_to(root).as_posix())}'>MODEL_CARD.md</a></p>")
    out += [_predictions_section(root, summary) for summary in sorted((run / "predictions").glob("*/summary.json"))]
    images = []
    science = specs()[component].science_metrics if component in specs() else ()
    curves = training_curves(run / "logs" / "csv" / "metrics.csv", root / REPORT_ASSETS / f"{_slug(run, root)}_curves.png", component, science)
    if curves:
        images.append((curves, "training curves: logged training losses; validation science metrics"))
    images += [(p, p.stem.replace("_", " ")) for p in sorted((run / PLOTS_DIR).glob("*.png"))]
    if images:
        figures = "".join(f"<figure><img src='{_e(p.relative_to(root).as_posix())}' alt='{_e(caption)}'><figcaption>{_e(caption)}</figcaption></figure>"
                          for p, caption in images)
        out.append(f"<div class='gallery'>{figures}</div>")
    return "".join(out)


def _lineage_block(lineage: dict) -> str:
    """Where the weights came from: the parent run, its checkpoint's sha256, and what was loaded, fresh or frozen."""
    rows = [f"<p>Weights: {_e(describe_lineage(lineage))}; parent checkpoint <code>{_e(lineage['checkpoint'])}</code> "
            f"(sha256 {_e(lineage['checkpoint_sha256'][:16])}…).</p>"]
    fresh = lineage.get("fresh") or []
    if fresh:
        items = "".join(f"<tr><td>{_e(f['name'])}</td><td>{_e(f['shape'])}</td><td>{_e(f['parent_shape'] or 'absent')}</td></tr>" for f in fresh[:40])
        rows.append(f"<table><tr><th>freshly initialised</th><th>shape here</th><th>in the parent</th></tr>{items}</table>")
    if lineage.get("config_changes"):
        rows.append("<p>Config changed by the fork: " + ", ".join(_e(d) for d in lineage["config_changes"]) + "</p>")
    return "".join(rows)


def _metrics_table(metrics: dict) -> str:
    import re

    detail = {k: v for k, v in metrics["test"].items() if re.search(r"_level\d+$", k)}  # per-level breakdowns: folded away
    rows = [f"<tr><td>{_e(k)}</td><td class='num'>{v:.4g}</td></tr>" for k, v in metrics["test"].items() if k not in detail]
    rows += [f"<tr><td>{_e(k)}</td><td class='num'>{v:.4g}</td></tr>" for k, v in metrics.get("baselines", {}).items() if isinstance(v, (int, float))]
    train = metrics.get("train", {})
    rows.append(f"<tr><td>train wall time</td><td class='num'>{train.get('wall_time_s', 0) / 60:.1f} min</td></tr>")
    table = f"<table><tr><th>held-out test split (step {metrics.get('global_step')})</th><th>value</th></tr>{''.join(rows)}</table>"
    if detail:
        table += "<details><summary>per level</summary><table>" + "".join(f"<tr><td>{_e(k)}</td><td class='num'>{v:.4g}</td></tr>" for k, v in detail.items()) + "</table></details>"
    return table


def _ablation_table(ablation: dict) -> str:
    keys = ["accuracy", "macro_f1", "ece", "biosphere_roc_auc", "habitable_fraction_mae", "score"]
    head = "".join(f"<th>{k}</th>" for k in keys)
    rows = "".join(f"<tr><td>{_e(r['subset'])}</td>" + "".join(f"<td class='num'>{r[k]:.3f}</td>" for k in keys) + "</tr>" for r in ablation["rows"])
    return f"<p>Modality ablation (test split; ranked by {_e(ablation['metric_for_ranking'])}):</p><table><tr><th>modalities</th>{head}</tr>{rows}</table>"


def _benchmark_table(benchmark: dict) -> str:
    """Production: latency and throughput per model/backend, and the speed-up over CLERO."""
    speedup = benchmark["speedup_over_clero"]
    rows = "".join(f"<tr><td>{_e(k)}</td><td class='num'>{t['p50_ms']:.3f} / {t['p95_ms']:.3f}</td><td class='num'>{t['best_batch']}</td>"
                   f"<td class='num'>{t['best_planets_per_s']:,.0f}</td><td class='num'>"
                   + (f"{speedup[k]['batch_1']:,.1f} / {speedup[k]['best_batch']:,.1f}" if k in speedup else "") + "</td></tr>"
                   for k, t in benchmark["timings"].items())
    return ("<p>Latency and throughput on this machine (one process):</p><table><tr><th>model / backend</th><th>p50 / p95 ms (batch 1)</th>"
            f"<th>best batch</th><th>planets/s</th><th>× CLERO (batch 1 / best)</th></tr>{rows}</table>")


def _predictions_section(root: Path, summary_path: Path) -> str:
    """`astrotrain predict`: counts by status, the top 10 inside CLERO's core domain, the plots."""
    summary = json.loads(summary_path.read_text())
    counts = ", ".join(f"{k} {v}" for k, v in summary["by_status"].items())
    rows = "".join(f"<tr><td>{i}</td><td>{_e(r['pl_name'])}</td><td class='num'>{r['habitable_fraction']:.3f} ± {r['habitable_fraction_sd']:.3f}</td>"
                   f"<td>{_e(r['climate_state'])}</td></tr>" for i, r in enumerate(summary["top_10"], 1))
    figures = "".join(f"<figure><img src='{_e(p.relative_to(root).as_posix())}' alt='{_e(p.stem)}'><figcaption>{_e(p.stem.replace('_', ' '))}</figcaption></figure>"
                      for p in sorted((summary_path.parent / PLOTS_DIR).glob("*.png")))
    csv = Path(summary["csv"])
    link = csv.relative_to(root).as_posix() if csv.is_relative_to(root) else str(csv)
    return (f"<h3>Predictions: {_e(summary['source'])} ({summary['planets']} planets; backend {_e(summary['backend'])})</h3>"
            f"<p>{_e(counts)} · <a href='{_e(link)}'>ranked CSV</a></p><table><tr><th>#</th><th>planet (inside CLERO's core domain)</th>"
            f"<th>habitable fraction</th><th>climate state</th></tr>{rows}</table>{sanity_section(summary)}<div class='gallery'>{figures}</div>")


def _study_section(study: dict) -> str:
    """An Optuna study: its budget and states, the best trial against the config as given, its plots."""
    rows = [("component", study["component"]), ("optimised", f"{study['metric']} ({study['direction']})"), ("storage", study["storage"]),
            ("trials by state", ", ".join(f"{k} {v}" for k, v in study["trials_by_state"].items() if v))]
    best = study.get("best_trial")
    if best:
        rows.append(("best trial", f"#{best['number']}: {best['value']:.6g}"))
        rows += [(f"  {k}", str(v)) for k, v in best["params"].items()]
    if "default_config_trial" in study:
        rows.append((f"the config as given (trial #{study['default_config_trial']['number']})", f"{study['default_config_trial']['value']:.6g}"))
    table = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
    figures = "".join(f"<figure><img src='{_e((PLOTS_DIR + '/' + name))}' alt='{_e(name)}'><figcaption>{_e(name)}</figcaption></figure>"
                      for name in study.get("plots", []))
    return f"<h2>Optuna study {_e(study['study_name'])}</h2><table>{table}</table><div class='gallery'>{figures}</div>"


def _text_block(title: str, path: Path) -> str:
    if not path.is_file():
        return ""
    return f"<details><summary><b>{_e(title)}</b> ({_e(path.name)})</summary><pre>{_e(path.read_text())}</pre></details>"


def _slug(run: Path, root: Path) -> str:
    return run.relative_to(root).as_posix().replace("/", "_") or "run" if run != root else "run"


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _yaml(path: Path) -> dict | None:
    import yaml

    return yaml.safe_load(path.read_text()) if path.is_file() else None


def _e(text) -> str:
    return html.escape(str(text), quote=True)
