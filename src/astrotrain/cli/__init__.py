"""The command line: `train.py` and the `astrotrain` console script share it.

Nothing here imports torch at module level: `--help`, `--validate-only` and config errors
answer fast. Every user error ends in one message on stderr and exit code 2.
"""

from __future__ import annotations

import sys

from ..errors import EXIT_USER_ERROR, UserError
from .parser import build_data_parser, build_train_parser

SUBCOMMANDS = ("train", "data")


def main(argv: list[str] | None = None) -> int:
    """`astrotrain [train] [flags]` or `astrotrain data generate ...`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "data":
            from .data_commands import run_data

            args = build_data_parser().parse_args(argv[1:])
            return run_data(args)
        if argv and argv[0] == "train":
            argv = argv[1:]
        args = build_train_parser().parse_intermixed_args(argv)
        from .train_command import run_train

        return run_train(args)
    except UserError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_USER_ERROR


def entry() -> None:
    sys.exit(main())
