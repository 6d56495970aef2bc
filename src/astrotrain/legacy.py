"""The legacy datacube scripts (`archive/train_cube.py`, `archive/train_enhanced_cube.py`), kept as tombstones.

Each prints a deprecation warning with the equivalent `train.py` command, then runs it. The old
flags they accepted map as below (MIGRATION.md has the table); anything else is refused with the
list, exit 2.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from .errors import EXIT_USER_ERROR

FLAGS = {  # old flag → (new key or flag, what it was)
    "--epochs": ("components.datacube.max_epochs", "training epochs"),
    "--batch-size": ("components.datacube.batch_size", "cubes per step"),
    "--lr": ("components.datacube.lr", "learning rate"),
    "--learning-rate": ("components.datacube.lr", "learning rate"),
    "--seed": ("--seed", "random seed"),
    "--output-dir": ("run.output_dir", "where runs go"),
    "--data-dir": ("components.datacube.datacubes", "a folder of ingested cubes (astrotrain data ingest --out)"),
    "--resume": ("--resume", "checkpoint to resume"),
    "--gpus": ("--gpus", "GPUs (more than one: DDP)"),
    "--fp16": ("--mixed-precision", "mixed precision"),
    "--config": ("--config", "config file"),
}


def parser(script: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=script, add_help=True, description=f"DEPRECATED: {script} forwards to python train.py --component datacube")
    for flag in FLAGS:
        if flag == "--fp16":
            p.add_argument(flag, action="store_true")
        elif flag in ("--epochs", "--batch-size", "--seed", "--gpus"):
            p.add_argument(flag, type=int)
        elif flag in ("--lr", "--learning-rate"):
            p.add_argument(flag, type=float)
        else:
            p.add_argument(flag)
    return p


def translate(argv: list[str], physics_constraints: bool, script: str) -> list[str]:
    """The `train.py` arguments equivalent to a legacy command line."""
    args, unknown = parser(script).parse_known_args(argv)
    overrides = [u for u in unknown if "=" in u and not u.startswith("-")]  # key.path=value overrides pass through
    unknown = [u for u in unknown if u not in overrides]
    if unknown:
        raise SystemExit(_refuse(script, unknown))
    new = ["--component", "datacube"] + (["--physics-constraints"] if physics_constraints else [])
    for flag, (target, _) in FLAGS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is None or value is False:
            continue
        if target == "--mixed-precision":
            new.append(target)
        elif target == "--gpus":
            new += ["--gpus", str(value)] + (["--distributed"] if value > 1 else []) + ([] if value == 0 else ["trainer.accelerator=gpu"])
        elif target.startswith("--"):
            new += [target, str(value)]
        elif target == "components.datacube.datacubes":
            new.append(f"{target}=[{value}]")
        else:
            new.append(f"{target}={value}")
    return new + overrides


def forward(script: str, physics_constraints: bool, argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        parser(script).print_help()
        return 0
    new = translate(argv, physics_constraints, script)
    print(f"warning: {script} is deprecated and will be removed; it now runs the equivalent command:\n"
          f"  python train.py {shlex.join(new)}\n(see MIGRATION.md)", file=sys.stderr)
    from .cli import main

    return main(["train", *new])


def _refuse(script: str, unknown: list[str]) -> int:
    accepted = ", ".join(FLAGS)
    print(f"error: {script} (deprecated) does not know {' '.join(unknown)}; it accepted {accepted}. "
          f"Use python train.py --component datacube directly (see MIGRATION.md)", file=sys.stderr)
    return EXIT_USER_ERROR
