"""Argument parsers (argparse: no imports beyond the standard library)."""

from __future__ import annotations

import argparse

from ..errors import UserError

DEFAULT_CONFIG = "config/master_training.yaml"


def default_config_path() -> str:
    """`config/master_training.yaml` of the working directory, else of the astrotrain checkout."""
    from pathlib import Path

    if Path(DEFAULT_CONFIG).is_file():
        return DEFAULT_CONFIG
    checkout = Path(__file__).resolve().parents[3] / DEFAULT_CONFIG
    return str(checkout) if checkout.is_file() else DEFAULT_CONFIG


class _Parser(argparse.ArgumentParser):
    """argparse that raises UserError (exit 2 with one message) instead of printing usage and exiting."""

    def error(self, message: str):
        raise UserError(f"{message} (see `{self.prog} --help`)")


def build_train_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="train.py",
        description="Train astrotrain models: one component, the full 5-phase pipeline, or an Optuna study.",
        epilog="Overrides: any config key as key.path=value, e.g. trainer.max_epochs=5 components.surrogate.lr=3e-4",
    )
    p.add_argument("--mode", choices=["full", "component", "optimize"], help="what to run (default: run.mode of the config)")
    p.add_argument("--component", metavar="NAME", help="component to train (default: run.component of the config)")
    p.add_argument("--config", default=None, metavar="PATH", help=f"config file (default: {DEFAULT_CONFIG}; when resuming: the run's own)")
    p.add_argument("--physics-constraints", action="store_true", help="enable physics constraints (sets physics.constraints=true)")
    p.add_argument("--distributed", action="store_true", help="DDP over --gpus processes per node and --nodes nodes")
    p.add_argument("--gpus", type=int, metavar="N", help="processes per node with --distributed (GPUs, or gloo CPU processes)")
    p.add_argument("--nodes", type=int, metavar="M", help="nodes with --distributed (via torchrun or SLURM)")
    p.add_argument("--mixed-precision", action="store_true", help="bf16-mixed on CPU; on GPU bf16-mixed where supported, else 16-mixed")
    p.add_argument("--resume", metavar="CKPT", help="checkpoint file, run directory, or auto (the newest valid checkpoint of the most recent run) to resume exactly")
    p.add_argument("--force-config-change", action="store_true", help="resume even though the config differs from the checkpoint's")
    p.add_argument("--fork", action="store_true", help="with --resume: continue its exact state under this config in a NEW run directory "
                   "(the original stays untouched; the changes are recorded)")
    p.add_argument("--init-from", metavar="RUN_OR_CKPT", help="start a new run from a trained run's weights, matched by name "
                   "(sets init.checkpoint; mismatched shapes are reported and start fresh); a new optimiser and schedule")
    p.add_argument("--strict-init", action="store_true", help="with --init-from: refuse any missing, extra or reshaped weight (sets init.strict)")
    p.add_argument("--optimize", action="store_true", help="run an Optuna study (same as --mode optimize)")
    p.add_argument("--trials", type=int, metavar="N", help="Optuna trials with --optimize (sets hpo.trials)")
    p.add_argument("--storage", metavar="URL", help="Optuna storage with --optimize (sqlite:///study.db, postgresql://…); default: study.db in the study folder")
    p.add_argument("--study-name", metavar="NAME", help="Optuna study name with --optimize (default: astrotrain-<component>)")
    p.add_argument("--n-jobs", type=int, metavar="K", help="with --optimize: K worker processes on the same storage")
    p.add_argument("--seed", type=int, help="global seed (sets run.seed)")
    p.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=None, help="deterministic algorithms (sets run.deterministic)")
    p.add_argument("--validate-only", action="store_true", help="check the config (every error at once) and exit")
    p.add_argument("--run-dir", metavar="DIR", help="write the run into DIR (must be new or empty) instead of runs/<time>-<name>")
    p.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides")
    return p


def build_data_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="astrotrain data", description="Acquire, generate, ingest and check data.")
    sub = p.add_subparsers(dest="data_command", metavar="{generate,fetch,report,ingest}", parser_class=_Parser)
    sub.required = True

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_text)
        c.add_argument("--config", default=None, metavar="PATH", help=f"config file (default: {DEFAULT_CONFIG})")
        c.add_argument("--no-progress", action="store_true", help="no progress bar")
        return c

    gen = command("generate", "generate (or reuse) the CLERO climate universe of a config")
    gen.add_argument("overrides", nargs="*", metavar="key.path=value")
    fetch = command("fetch", "fetch the NASA Exoplanet Archive pscomppars table into the cache")
    fetch.add_argument("source", choices=["nasa"], help="archive to fetch")
    fetch.add_argument("--offline", action="store_true", help="do not query; use (and report) the cache")
    fetch.add_argument("--from-csv", metavar="FILE", help="seed the cache from an archive CSV export instead of TAP")
    fetch.add_argument("overrides", nargs="*", metavar="key.path=value")
    report = command("report", "quality report (JSON + HTML) of the universe, or of an archive table")
    report.add_argument("--archive", metavar="CSV", help="report on an archive CSV export (default: the universe)")
    report.add_argument("--out", metavar="DIR", help="output folder (default: data.reports_dir/<dataset>)")
    report.add_argument("overrides", nargs="*", metavar="key.path=value")
    ingest = command("ingest", "ingest GCM output (NetCDF/Zarr, one run: a file or a glob of files) into the universe's datacube layout")
    ingest.add_argument("path", help="a NetCDF file, a Zarr store, or a quoted glob of one run's files ('case/*.cam.h0.*.nc')")
    ingest.add_argument("--mapping", metavar="FILE", help="variable/dimension/unit/vertical mapping (config/gcm_mappings/*.yaml); "
                        "omitted: by the file's CF standard_names")
    ingest.add_argument("--out", metavar="DIR", help="output folder (default: data/gcm/<file stem>)")
    ingest.add_argument("--levels", metavar="KIND[:V,...]", help="common target levels: sigma (default: CLERO's ten at 1 bar), "
                        "sigma:0.95,0.8,… or pressure:90000,70000,… (Pa, bottom first)")
    ingest.add_argument("--skip-years", type=int, default=0, metavar="N", help="drop the first N model years (spin-up)")
    ingest.add_argument("--time", choices=["samples", "mean", "monthly"], default="samples",
                        help="keep every time sample (default), average into one climatology, or into a mean annual cycle")
    ingest.add_argument("--parameters", metavar="CSV", help="sidecar table of planet parameters: a `run` column, one column per "
                        "parameter (`name` or `name [unit]`); default: the file's global attributes, if it has all eight")
    ingest.add_argument("--run-id", metavar="ID", help="this run's row in --parameters (default: the output folder's name)")
    ingest.add_argument("overrides", nargs="*", metavar="key.path=value")
    return p


def build_runs_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="astrotrain runs", description="One line per run in a folder: name, component or pipeline, status (phase by phase), "
                "start, wall time, headline metric per component, git sha.")
    p.add_argument("folder", nargs="?", default="runs", help="a folder of run directories (default: runs)")
    p.add_argument("--format", choices=["table", "csv", "markdown", "json"], default="table")
    return p


def build_compare_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="astrotrain compare", description="The config keys that differ between runs and their held-out metrics side by side "
                "(with 95 %% bootstrap intervals where a run has them).")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (two or more)")
    p.add_argument("--format", choices=["table", "csv", "markdown", "json"], default="table")
    return p


def build_report_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="astrotrain report", description="Rebuild report.html of a run (a pipeline or a component run) and print its path.")
    p.add_argument("run", help="run directory")
    return p


def build_evaluate_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="astrotrain evaluate", description="Evaluate a run's last checkpoint on its held-out test planets.")
    p.add_argument("run", help="run directory")
    p.add_argument("--out", metavar="FILE", help="metrics JSON (default: <run>/evaluation.json)")
    return p


def build_explain_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="astrotrain explain", description="The fine-tuned LLM (phase 3) explains a planet's climate and habitability.")
    p.add_argument("--run", required=True, metavar="RUN", help="a --mode full run with a finished phase 3 (or an llm component run)")
    p.add_argument("--planet", required=True, metavar="NAME", help="universe:INDEX (a planet of the run's universe) or a NASA Exoplanet Archive pl_name")
    p.add_argument("--catalog", metavar="CSV", help="archive CSV export to look NAME up in (default: the cached table of `astrotrain data fetch nasa`)")
    p.add_argument("--max-new-tokens", type=int, metavar="N", help="tokens to generate (default: 3 × components.llm.max_new_tokens)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def build_predict_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="astrotrain predict", description="Climate state and habitable fraction (± uncertainty) of real planets from a finished "
                "run's production export (phase 5), ranked, with domain and imputation flags; plots go into the run's report.")
    p.add_argument("--run", required=True, metavar="RUN", help="a --mode full run with a finished phase 5 (or a production component run)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--catalog", choices=["nasa"], help="nasa = the table cached by `astrotrain data fetch nasa`")
    source.add_argument("--input", metavar="CSV", help="planets in the NASA Exoplanet Archive's CSV format (pl_name, st_teff, pl_insol, pl_rade, ...)")
    p.add_argument("--backend", choices=["onnx", "onnx-int8", "torch"], default="onnx",
                   help="onnx (default) and onnx-int8 run the exports in onnxruntime without importing torch; torch rebuilds the checkpoints")
    p.add_argument("--output", metavar="PATH", help="also write the ranked CSV here (it is always written to <production run>/predictions/<name>/)")
    return p


def flags_to_overrides(args: argparse.Namespace) -> list[str]:
    """Turn the convenience flags into dotted overrides; explicit key=value overrides come after them and win."""
    out: list[str] = []
    if args.mode:
        out.append(f"run.mode={args.mode}")
    if args.optimize:
        out.append("run.mode=optimize")
    if args.trials is not None:
        out.append(f"hpo.trials={args.trials}")
    if args.component:
        out.append(f"run.component={args.component}")
        if not (args.mode or args.optimize):  # --component X alone trains X, whatever run.mode the config names
            out.append("run.mode=component")
    if args.physics_constraints:
        out.append("physics.constraints=true")
    if args.seed is not None:
        out.append(f"run.seed={args.seed}")
    if args.deterministic is not None:
        out.append(f"run.deterministic={str(args.deterministic).lower()}")
    if args.mixed_precision:
        out.append("trainer.precision=mixed")
    if args.init_from is not None:
        if args.resume:
            raise UserError("--init-from starts a new run from a parent's weights, --resume continues one (--fork: into a new directory): use one of the two")
        out.append(f"init.checkpoint={args.init_from}")
    if args.strict_init:
        out.append("init.strict=true")
    if args.fork and not args.resume:
        raise UserError("--fork goes with --resume RUN_OR_CKPT: it continues that run's exact state in a new run directory")
    if args.gpus is not None or args.nodes is not None:
        if not args.distributed:
            raise UserError("--gpus/--nodes need --distributed (e.g. --distributed --gpus 2)")
    if args.distributed:
        out += ["trainer.strategy=ddp", f"trainer.devices={args.gpus or 1}", f"trainer.num_nodes={args.nodes or 1}"]
    return out
