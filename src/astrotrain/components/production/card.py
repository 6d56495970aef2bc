"""The run's record for users: `export/manifest.json` (what `predict` needs) and `MODEL_CARD.md`
(after Mitchell et al. 2019, "Model cards for model reporting": intended use, data, validity
domain, metrics with their uncertainty, limits, how to reproduce)."""

from __future__ import annotations

import json
import shlex
from datetime import datetime, timezone
from pathlib import Path

from ...data.observation import unknown_atmosphere
from ...fsutil import atomic_write_json, atomic_write_text
from ...hashing import sha256_file
from ...runs import layout as rd
from ...universe.sampling import PARAMETER_NAMES, PARAMETER_UNITS, core_domain
from .sanity import markdown as sanity_markdown

CARD_FILE = "MODEL_CARD.md"
WHAT = {
    "surrogate": "surface-temperature map (32×64, K) + climate state, from the 8 planet parameters (phase-1 transformer)",
    "fast_surrogate": "surface-temperature map (32×64, K), distilled MLP (phase 5) — the model served at scale",
    "fusion": "climate-state probabilities, habitable fraction, P(biosphere) from the catalog entry alone (phase-2 fusion; the atmosphere unknown)",
}


def write_manifest(out: Path, cfg, source, teacher_dir: Path, modalities: list[str], fusion_rmse: float, distillation: dict, predict: dict) -> dict:
    """`export/manifest.json`: the files with their sha256 and what `predict` reads (`predict`: the draws'
    quantiles and prior, the validity measurement)."""
    from clero.climate_analysis import CLIMATE_STATES

    pc = cfg.components.production
    manifest = {
        "files": {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in sorted(out.iterdir()) if p.name != "manifest.json"},
        "source_run": str(Path(source.path).resolve()), "surrogate_run": str(teacher_dir.resolve()),
        "inputs": {"features": "[B, 8] float32: " + ", ".join(f"log10 {n}" if n in ("P_rot", "P0", "CO2", "CH4") else n for n in PARAMETER_NAMES),
                   "units": PARAMETER_UNITS},
        "fusion_modalities": modalities, "climate_states": list(CLIMATE_STATES), "grid_shape": [32, 64],
        "default_atmosphere": cfg.data.archive.default_atmosphere.model_dump(),
        "unknown_atmosphere": unknown_atmosphere(source.fusion_config().data.universe),  # what fusion's catalog view puts in P0, CO2, CH4
        "fusion_habitable_fraction_rmse": fusion_rmse, "int8": pc.int8, "top_candidates": pc.top_candidates,
        "archive_cache_dir": str(cfg.data.archive.cache_dir), "distillation": {k: v for k, v in distillation.items() if k != "loss_per_epoch"},
        **predict,
    }
    atomic_write_json(out / "manifest.json", manifest)
    return manifest


def write_model_card(run_dir: Path, cfg, source, teacher_dir: Path, metrics: dict, manifest: dict) -> Path:
    import clero

    universe = source.universe()
    um = universe.manifest
    provenance = json.loads((Path(source.path) / rd.PROVENANCE_FILE).read_text())
    git = provenance.get("git") or {}
    heldout, timings, speedup = metrics["heldout"], metrics["benchmark"], metrics["speedup_over_clero"]
    sizes = {f: manifest["files"][f]["bytes"] / 1e6 for f in manifest["files"]}
    lines = [
        f"# Model card — astrotrain run `{Path(source.path).name}`",
        "",
        f"Written {datetime.now(timezone.utc).isoformat(timespec='seconds')} by the production phase (phase 5) in `{run_dir}`.",
        "",
        "## Models",
        "",
        _table(["model", "predicts", "ONNX fp32 / int8 (MB)"],
               [[name, WHAT[name], f"{sizes.get(name + '.onnx', 0):.2f} / {sizes.get(name + '.int8.onnx', 0):.2f}"] for name in WHAT]),
        "",
        "Inputs: " + manifest["inputs"]["features"] + ". Files: `export/` (sha256 in `export/manifest.json`).",
        "",
        "## Intended use",
        "",
        "Screening and ranking rocky, tidally locked, ocean-covered exoplanets by their likely climate state and habitable surface "
        "fraction, inside CLERO's validity domain; generating hypotheses on which planets merit observing time or a full GCM run. "
        "**Not** for: gas giants or planets outside the domain (predicted, but flagged as extrapolation), claims about life "
        "(P(biosphere) from parameters alone is the universe's prior, not a detection), or replacing a GCM for a single planet's study.",
        "",
        "## Training data and provenance",
        "",
        f"- Planets: the simulated universe `{universe.path}` — {um['n_planets']} planets drawn within CLERO's core domain "
        f"(seed {um.get('seed', cfg.data.universe.seed)}), climate from CLERO {um['clero_version']} (weights sha256 `{um['clero_weights_sha256'][:16]}…`), "
        f"data sha256 `{um['sha256'][:16]}…`; split train/val/test {cfg.data.split.train:.0%}/{cfg.data.split.val:.0%}/rest (seed {cfg.data.split.seed}); "
        f"metrics below on {metrics['test_planets']['surrogate']} test planets (fusion: {metrics['test_planets']['fusion']}, those no encoder saw).",
        f"- Source run: `{source.path}` (git `{(git.get('sha') or 'not a git checkout')[:12]}`{', dirty' if git.get('dirty') else ''}, seed {provenance['seed']}); "
        f"surrogate run `{teacher_dir}`.",
        f"- Fast surrogate: distilled on {manifest['distillation']['planets']:,} planets drawn from the universe's prior (seed "
        f"{manifest['distillation']['prior_seed']}), labelled by the surrogate; no test planet's truth was used.",
        "",
        "## Validity domain",
        "",
        _table(["input", "unit", "core domain (trained)", "extended domain (extrapolation, flagged)"],
               [[n, PARAMETER_UNITS[n], _range(core_domain()[n]), _range(clero.EXTENDED_DOMAIN[n])] for n in PARAMETER_NAMES]),
        "",
        "`predict` flags every planet outside the core domain (`domain_flags` names the input and the bound) and ranks it after those inside.",
        "",
        "## Where predictions are trusted: measured error and calibrated σ",
        "",
        "Measured the way `predict` predicts (catalog noise, atmosphere drawn from the prior, one representative map per planet): "
        "the core domain on held-out universe planets (σ floor fitted on validation planets, coverage on test planets), each band between "
        "the core and the extended domain on CLERO planets drawn there (floor fitted on one half, coverage on the other). A band is predicted "
        f"only where its habitable-fraction MAE ≤ {manifest['validity']['acceptance']['habitable_mae']:g} and its mean-Ts error ≤ "
        f"{manifest['validity']['acceptance']['ts_error_K']:g} K; elsewhere the number is withheld.",
        "",
        validity_table(manifest["validity"]),
        "",
        "Beyond the core domain, planets past a documented climate limit — the runaway greenhouse (Kopparapu et al. 2014, for the host's T_eff "
        "and the planet's mass, × 1.5 for a synchronous rotator's substellar clouds: Yang et al. 2013, Kopparapu et al. 2016) or the maximum "
        "greenhouse — carry that limit's label (habitable fraction 0, with the reason) instead of a network's output.",
        "",
        *(["## Literature sanity table", "", sanity_markdown(metrics["predict"]["literature_sanity"]), ""] if "predict" in metrics else []),
        "## Metrics (held-out test planets; 95 % bootstrap interval)",
        "",
        _table(["model / backend", "surface-T RMSE (K)", "habitable-fraction MAE", "climate-state accuracy"],
               [[k, _ci(m, "surface_temperature_rmse_K"), _ci(m, "habitable_fraction_mae"), _ci(m, "climate_state_accuracy", "accuracy")]
                for k, m in heldout.items()]),
        "",
        "## Speed (this machine, one process; latency at batch 1, throughput at the best batch)",
        "",
        _table(["model / backend", "p50 / p95 latency (ms)", "best batch", "planets/s", "× CLERO (batch 1 / best batch)"],
               [[k, f"{t['p50_ms']:.3f} / {t['p95_ms']:.3f}", t["best_batch"], f"{t['best_planets_per_s']:,.0f}",
                 f"{speedup[k]['batch_1']:,.1f} / {speedup[k]['best_batch']:,.1f}" if k in speedup else ""] for k, t in timings.items()]),
        "",
        "## ONNX parity and int8",
        "",
        _table(["model", "output", "max |Δ| ONNX vs PyTorch", "relative"],
               [[m, o, f"{r['max_abs_error']:.3g}", f"{r['relative_error']:.1e}"] for m, outs in metrics["parity"].items() for o, r in outs.items()]),
        "",
        "int8 (dynamic quantisation) against fp32 ONNX: " + "; ".join(
            f"{m}: {'+%.3f K RMSE' % c['surface_temperature_rmse_increase_K'] if 'surface_temperature_rmse_increase_K' in c else '%.1f points accuracy' % (-100 * c['accuracy_drop'])}"
            f" ({'within' if c['ok'] else 'OUTSIDE'} tolerance)" for m, c in metrics["int8"].items()) if metrics["int8"] else "int8: not exported.",
        "",
        "## Known limits",
        "",
        "- The truth is CLERO, a Gaussian-process emulator of GCM runs: its own emulation error (relative to the GCMs) comes on top of the figures above.",
        "- CLERO's planets are tidally locked aquaplanets: rotation = orbit, no continents, no seasons. An archive planet's P0, CO2, CH4 are unknown: "
        "`predict` draws them from the universe's prior (or the input's own), reports the representative draw's map and puts the spread into σ.",
        "- Biospheres and their gases are a simulated model, spectra come from an analytic forward model (DESIGN.md): figures about "
        "biosignatures describe that simulation, not real detection performance.",
        "- Archive inputs are imputed where missing (Chen & Kipping 2017 mass-radius relation, Kepler's third law) and the archive's own "
        "mass-radius masses are no measurements: the `imputed` column names both. M sin i masses are minimum masses: `caveats` says so and "
        "`predict` marginalises the isotropic inclination prior. P_rot = the orbital period (tidal locking) is assumed unless the input gives "
        "`P_rot` (the `assumed` column).",
        "",
        "## How to reproduce",
        "",
        "```",
        "python train.py --mode full --config config/master_training.yaml   # phases 1-5 (this card is phase 5's)",
        f"python train.py --component production components.production.source={source.path}   # phase 5 alone, on a finished run",
        f"astrotrain predict --run {source.path} --catalog nasa   # or --input PSCompPars.csv; --backend onnx | onnx-int8 | torch",
        "```",
        "",
        f"Command of the source run: `{shlex.join(provenance.get('command', []))}`.",
        "",
    ]
    path = run_dir / CARD_FILE
    atomic_write_text(path, "\n".join(lines))
    return path


def validity_table(validity: dict) -> str:
    """Core and bands: errors on the evaluation planets, σ floors and their coverage, and the verdict."""
    def row(name, region, accepted):
        e, h, t = region["evaluation"], region["habitable_fraction"], region["mean_ts"]
        number = lambda v, f: "—" if v is None or v != v else format(v, f)  # noqa: E731
        return [name, e["planets"], number(e["habitable_fraction_mae"], ".3f"), number(e["mean_ts_error_K"], ".1f"), number(e["state_accuracy"], ".2f"),
                f"{number(h['floor'], '.3f')} / {number(t['floor'], '.1f')} K", f"{number(h['coverage_68'], '.2f')} / {number(h['coverage_95'], '.2f')}",
                f"{number(t['coverage_68'], '.2f')} / {number(t['coverage_95'], '.2f')}", accepted]
    rows = [row("core domain", validity["core"], "trained")]
    rows += [row(f"{name} ({r['range'][0]:.3g}–{r['range'][1]:.3g})", r, "predicted" if r["accepted"] else "**withheld**") for name, r in validity["bands"].items()]
    return _table(["region", "planets", "habitable-fraction MAE", "mean-Ts error (K)", "state accuracy", "σ floor (fraction / Ts)",
                   "coverage 68 / 95 % (fraction)", "coverage 68 / 95 % (Ts)", "predict"], rows)


def _table(header: list[str], rows: list[list]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def _range(bounds) -> str:
    lo, hi = map(float, bounds)
    return f"{lo:.3g} – {hi:.3g}"


def _ci(metrics: dict, *names: str) -> str:
    for name in names:
        if name in metrics:
            lo, hi = metrics["ci95"][name]
            return f"{metrics[name]:.4g} [{lo:.4g}, {hi:.4g}]"
    return ""
