"""The report's science sections: what each figure is measured against.

* the leakage audit of fusion (`leakage_audit.json`) and the controls of a component's classifier
  (`controls.json`): majority baseline, best single input, shuffled-label runs;
* where `predict` is trusted (`validity.json` of the production run);
* the literature sanity table of a prediction (`summary.json`).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from ..components.production.card import validity_table
from ..components.production.sanity import markdown

LABELS = {"biosphere": ("biosphere (ROC-AUC)", "roc_auc"), "state": ("climate state (accuracy)", "accuracy"),
          "habitable": ("habitable fraction (MAE)", "mae"), "climate_state": ("climate state (accuracy)", "accuracy")}


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _n(value, fmt: str = ".3f") -> str:
    return "—" if value is None or value != value else format(value, fmt)


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _shuffled(summary: dict, key: str) -> str | None:
    """'mean ± sd (k permutations)' of the shuffled-label runs."""
    if key not in summary:
        return None
    sd = summary.get("sd", {}).get(key)
    spread = f" ± {_n(sd)}" if sd is not None and sd == sd else ""
    return f"{_n(summary[key])}{spread} ({summary.get('permutations', 1)}×)"


LEAKAGE_INTRO = ("Leakage audit (held-out test planets): the figure against the majority class, the best single input alone "
                 "(depth-2 tree), the same model trained on shuffled labels, and a gradient-boosted reference on all inputs "
                 "(true / shuffled labels).")


def leakage_table(run: Path) -> tuple[str, str] | None:
    """Fusion's audit, or a component's controls, as (Markdown table, verdict); None when the run has neither."""
    audit, controls = _json(run / "leakage_audit.json"), _json(run / "controls.json")
    if audit is None and controls is None:
        return None
    fused_key = {"biosphere": "biosphere_roc_auc", "state": "accuracy", "habitable": "habitable_fraction_mae"}
    rows = ["| label | this model | majority | best single input | best per modality | shuffled-label run | boosted reference true / shuffled |",
            "|---|---|---|---|---|---|---|"]
    for label, c in (audit["controls"] if audit else controls).items():
        title, key = LABELS.get(label, (label, c["metric"]))
        fused = audit["fusion"].get(fused_key[label]) if audit else None
        best = c["best_single_input"]
        per_modality = "; ".join(f"{m}: {b['input']} {_n(b[key])}" for m, b in c.get("best_single_input_per_modality", {}).items())
        shuffled_run = _shuffled(audit.get("shuffled_label_fusion", {}), fused_key[label]) if audit else None
        rows.append(f"| {title} | {_n(fused)} | {_n(c['majority_baseline'][key])} | {best['input']}: {_n(best[key])} | {per_modality or '—'} | "
                    f"{shuffled_run or '—'} | {_n(c.get('all_inputs_reference', {}).get(key))} / {_n(c.get('shuffled_label_reference', {}).get(key))} |")
    verdict = ""
    if audit:
        oracle = " (oracle modalities: not a science figure)" if audit["oracle_modalities"] else ""
        verdict = (f"LEAK: a single observed input separates the biosphere label beyond ROC-AUC {audit['leakage_auc_limit']}." if audit["leak"] else
                   f"No single observed input separates the biosphere label beyond ROC-AUC {audit['leakage_auc_limit']}. "
                   f"Fused: {', '.join(audit['modalities'])}{oracle}.")
    return "\n".join(rows), verdict


def leakage_section(run: Path) -> str:
    """The audit as HTML for the report; empty when the run has none."""
    found = leakage_table(run)
    if found is None:
        return ""
    table, verdict = found
    css = " class='failed'" if verdict.startswith("LEAK") else ""
    return f"<p><b>Leakage audit</b>{_e(LEAKAGE_INTRO.removeprefix('Leakage audit'))}</p>{_markdown_table(table)}" + (f"<p{css}>{_e(verdict)}</p>" if verdict else "")


def validity_section(run: Path) -> str:
    validity = _json(run / "validity.json")
    if validity is None:
        return ""

    return ("<p><b>Where predictions are trusted</b> (measured the way <code>predict</code> predicts; σ floor fitted on calibration planets, "
            f"coverage on others; bands accepted at habitable-fraction MAE ≤ {validity['acceptance']['habitable_mae']:g} and mean-Ts error ≤ "
            f"{validity['acceptance']['ts_error_K']:g} K):</p>" + _markdown_table(validity_table(validity)))


def sanity_section(summary: dict) -> str:
    sanity = summary.get("literature_sanity")
    if not sanity:
        return ""

    text = markdown(sanity)
    table, _, note = text.rpartition("\n\n")
    return f"<p><b>Literature sanity table</b>: our prediction against published 3D-GCM studies.</p>{_markdown_table(table)}<p>{_e(note)}</p>"


def _markdown_table(text: str) -> str:
    """A Markdown pipe table (as the model card writes it) as HTML."""
    lines = [line.strip().strip("|").split("|") for line in text.strip().splitlines() if line.strip() and not set(line.strip()) <= set("|-")]
    head, body = lines[0], lines[1:]
    cell = lambda c: _e(c.strip().replace("**", ""))  # noqa: E731
    return ("<table><tr>" + "".join(f"<th>{cell(c)}</th>" for c in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in body) + "</table>")
