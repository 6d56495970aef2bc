"""`train.py` / `astrotrain train`: parse → config → (validate only | train) → summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config.loader import deep_merge, load_config, parse_override, read_yaml, set_path, validate
from ..config.precedence import check_typed_keys_take_effect
from ..config.registry import get_component
from ..errors import UserError
from .parser import default_config_path, flags_to_overrides


def resolve_config(args: argparse.Namespace):
    """The run's config: --config (or, when resuming without --config, the run's own config.yaml) + flags + overrides."""
    overrides = flags_to_overrides(args) + list(args.overrides)
    if args.resume == "auto":
        args.resume = str(auto_resume_target(args, overrides))
        print(f"--resume auto: {args.resume}")
    if args.resume and args.config is None:
        from ..runs.checkpoints import resolve_resume_target, run_dir_of
        from ..runs.layout import is_pipeline_run

        run = Path(args.resume) if is_pipeline_run(args.resume) else run_dir_of(resolve_resume_target(args.resume))
        run_config = run / "config.yaml"
        base = read_yaml(run_config)
        tree: dict = {}
        for text in overrides:
            keys, value = parse_override(text)
            set_path(tree, keys, value)
        return validate(deep_merge(base, tree), source=str(run_config)), tree
    return load_config(args.config or default_config_path(), overrides)


def auto_resume_target(args: argparse.Namespace, overrides: list[str]) -> Path:
    """`--resume auto`: the most recent run under run.output_dir — a pipeline run as it is, a component
    run at its newest checkpoint that verifies (a torn or corrupt newer one is skipped, and said so)."""
    from ..runs.checkpoints import newest_checkpoint, read_manifest
    from ..runs.layout import is_pipeline_run

    output_dir = None
    for text in overrides:
        keys, value = parse_override(text)
        if keys == ["run", "output_dir"]:
            output_dir = value
    if output_dir is None:
        output_dir = read_yaml(Path(args.config or default_config_path())).get("run", {}).get("output_dir", "runs")
    root = Path(output_dir)
    runs = sorted((p for p in root.iterdir() if (p / "config.yaml").is_file()), key=lambda p: p.name) if root.is_dir() else []
    if not runs:
        raise UserError(f"--resume auto: no run under {root} (run.output_dir) to resume; start one, or pass --resume <run dir or checkpoint>")
    run = runs[-1]
    if is_pipeline_run(run):
        return run
    best = newest_checkpoint(run / "checkpoints")
    if best is None:
        raise UserError(f"--resume auto: the most recent run {run} has no checkpoint that verifies; start it again, or pass --resume <checkpoint>")
    skipped = []
    for candidate in sorted((run / "checkpoints").glob("*.ckpt")):
        try:
            read_manifest(candidate)
        except UserError as exc:
            skipped.append(f"{candidate.name} ({exc.message.split(':')[0]})")
    if skipped:
        print(f"--resume auto: skipped {', '.join(skipped)}")
    return best


def run_train(args: argparse.Namespace) -> int:
    if args.trials is not None and not (args.optimize or args.mode == "optimize"):
        raise UserError("--trials goes with --optimize (e.g. --optimize --trials 50)")
    cfg, override_tree = resolve_config(args)
    spec = get_component(cfg.run.component)
    check_typed_keys_take_effect(cfg, override_tree)
    from ..runs.layout import is_pipeline_run

    if args.mode == "full" and args.component:
        raise UserError(f"--component {args.component} trains one component (phase 1 for it alone); --mode full trains them all: drop one of the two")
    if cfg.run.mode == "full" and (cfg.init.checkpoint or args.fork):
        raise UserError("--init-from/--fork start one component run (--component NAME); a --mode full run starts its components fresh "
                        "(resume it with --resume RUN)")
    if args.resume and is_pipeline_run(args.resume) and cfg.run.mode != "full":
        raise UserError(f"{args.resume} is a --mode full run; resume it with --mode full (or without --config, which uses its own config)")
    from ..hpo.optimize import check_no_stray_flags

    check_no_stray_flags(args, cfg)
    if args.validate_only:
        if args.resume and is_pipeline_run(args.resume):
            from ..pipeline import check_same_config

            check_same_config(Path(args.resume), cfg.model_dump(mode="json"), args.force_config_change)
        elif args.resume and not args.fork:  # a fork may change the config: the run checks what it may not
            from ..config.schema import RESUME_SAFE_KEYS
            from ..engine.runner import check_resume
            from ..runs.checkpoints import config_fingerprint, resolve_resume_target

            config = cfg.model_dump(mode="json")
            check_resume(resolve_resume_target(args.resume), config, config_fingerprint(config, RESUME_SAFE_KEYS), args.force_config_change)
        if cfg.init.checkpoint and not args.resume:
            from ..engine.lineage import load_parent

            load_parent(cfg.init.checkpoint, spec.name)
        if cfg.run.mode == "full":
            from ..pipeline import check_pipeline

            check_pipeline(cfg)
        elif spec.check:
            spec.resolve("check")(cfg)
        if cfg.run.mode == "optimize":
            from ..hpo.study import resolve

            resolve(cfg, args.storage, args.study_name)
        print(f"config OK: mode={cfg.run.mode} component={spec.name} seed={cfg.run.seed} "
              f"planets={cfg.data.universe.n_planets} precision={cfg.trainer.precision} "
              f"devices={cfg.trainer.devices}x{cfg.trainer.num_nodes} strategy={cfg.trainer.strategy}")
        return 0

    from ..engine.runner import is_rank_zero, train_component

    if cfg.run.mode == "full":
        return run_full(cfg, override_tree, args)
    if cfg.run.mode == "optimize":
        from ..hpo.optimize import run_optimize

        if args.resume or args.run_dir:
            raise UserError("--optimize resumes through its storage: rerun with the same --storage and --study-name (not --resume/--run-dir)")
        folder = run_optimize(cfg, override_tree, args.storage, args.study_name, args.n_jobs or 1)
        print(f"study folder: {folder}\nreport: {folder / 'report.html'}")
        return 0
    if args.run_dir:
        claim_run_dir_flag(Path(args.run_dir))

    result = train_component(cfg, override_tree, resume=args.resume, force_config_change=args.force_config_change, fork=args.fork)
    if is_rank_zero():
        from ..report.html import write_report

        write_report(result.run_dir)
    if result.metrics.get("test") is not None and is_rank_zero():
        print_summary(result)
    elif is_rank_zero():
        why = f"signal {result.preempted} (preempted)" if result.preempted else "trainer.stop_after_steps"
        print(f"stopped after step {result.metrics['global_step']} ({why}), checkpointed; resume with:\n"
              f"  python train.py --resume {result.run_dir}   (or --resume auto)")
    return 128 + result.preempted if result.preempted else 0


def run_full(cfg, override_tree: dict, args: argparse.Namespace) -> int:
    """--mode full: the 5-phase pipeline; prints each phase's status and the report's path."""
    from ..pipeline import run_pipeline

    if args.run_dir:
        raise UserError("--run-dir is for one component run; a --mode full run names its directory under run.output_dir")
    result = run_pipeline(cfg, override_tree, resume=args.resume, force_config_change=args.force_config_change)
    from ..config.schema import PHASE_NAMES

    for phase in PHASE_NAMES:
        record = result.status["phases"][phase]
        note = f" ({record['reason']})" if record.get("reason") else ""
        print(f"  phase {record['dir'].split('/')[-1]:<14} {record['status']}{note}")
    if not result.finished:
        print(f"stopped before the pipeline finished; resume with:\n  python train.py --resume {result.run_dir}")
    print(f"report: {result.run_dir / 'report.html'}")
    return 128 + result.preempted if result.preempted else 0


def claim_run_dir_flag(path: Path) -> None:
    """`--run-dir DIR`: a fixed run directory (e.g. for DVC outs); it must be new or empty."""
    import os

    from ..engine.runner import RUN_DIR_ENV

    if RUN_DIR_ENV in os.environ:  # a DDP worker relaunched by Lightning: rank 0 already claimed it
        return
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UserError(f"--run-dir {path} exists and is not an empty directory; choose a new one (or resume it with --resume {path})")
    os.environ[RUN_DIR_ENV] = str(path.resolve())


def print_summary(result) -> None:
    from rich.console import Console
    from rich.table import Table

    m = result.metrics
    table = Table(title=f"{m['component']}: held-out test split", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in m["test"].items():
        table.add_row(key, f"{value:.4g}")
    for key, value in m.get("baselines", {}).items():
        table.add_row(f"after the test: {key}", f"{value:.4g}" if isinstance(value, (int, float)) else str(value))
    table.add_row("train wall time (s)", f"{m['train']['wall_time_s']:.1f}")
    table.add_row("peak RSS (MB)", f"{m['train']['peak_rss_mb']:.0f}")
    console = Console()
    console.print(table)
    console.print(f"run directory: {result.run_dir}")

