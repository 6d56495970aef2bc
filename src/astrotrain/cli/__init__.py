"""The command line: `train.py` and the `astrotrain` console script share it.

Nothing here imports torch at module level: `--help`, `--validate-only` and config errors
answer fast. Every user error ends in one message on stderr and exit code 2.
"""

from __future__ import annotations

import sys

from ..errors import EXIT_USER_ERROR, UserError
from .parser import (
    build_compare_parser,
    build_data_parser,
    build_evaluate_parser,
    build_explain_parser,
    build_predict_parser,
    build_report_parser,
    build_runs_parser,
    build_train_parser,
)

SUBCOMMANDS = ("train", "data", "evaluate", "explain", "predict", "runs", "compare", "report")


def main(argv: list[str] | None = None) -> int:
    """`astrotrain [train] [flags]`, `astrotrain data {generate,fetch,report,ingest} ...`, `astrotrain evaluate RUN`,
    `astrotrain explain --run RUN --planet NAME`, `astrotrain predict --run RUN --catalog nasa | --input CSV`,
    `astrotrain runs [DIR]`, `astrotrain compare RUN RUN ...`, `astrotrain report RUN`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = dotted_flags_to_overrides(argv)
        if argv and argv[0] == "data":
            from .data_commands import run_data

            parser = build_data_parser()
            args, rest = parser.parse_known_args(argv[1:])  # overrides may stand between the flags
            unknown = [r for r in rest if r.startswith("-") or "=" not in r]
            if unknown:
                parser.error(f"unrecognized arguments: {' '.join(unknown)}")
            args.overrides = [*args.overrides, *rest]
            return run_data(args)
        if argv and argv[0] == "evaluate":
            from ..engine.evaluate import run_evaluate

            return run_evaluate(build_evaluate_parser().parse_args(argv[1:]))
        if argv and argv[0] == "explain":
            return run_explain(build_explain_parser().parse_args(argv[1:]))
        if argv and argv[0] == "predict":
            return run_predict(build_predict_parser().parse_args(argv[1:]))
        if argv and argv[0] in ("runs", "compare", "report"):
            from . import run_commands

            parser = {"runs": build_runs_parser, "compare": build_compare_parser, "report": build_report_parser}[argv[0]]()
            args = parser.parse_args(argv[1:])
            if argv[0] == "compare" and len(args.runs) < 2:
                parser.error("compare needs two or more run directories")
            return getattr(run_commands, f"run_{argv[0]}")(args)
        if argv and argv[0] == "train":
            argv = argv[1:]
        args = build_train_parser().parse_intermixed_args(argv)
        from .train_command import run_train

        return run_train(args)
    except UserError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_USER_ERROR


def run_explain(args) -> int:
    import json

    from ..components.llm.explain import explain, format_explanation

    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        raise UserError("--max-new-tokens must be at least 1")
    result = explain(args.run, args.planet, args.catalog, args.max_new_tokens)
    print(json.dumps(result, indent=2) if args.json else format_explanation(result))
    return 0


def run_predict(args) -> int:
    """Predict, then rewrite the run's report so that it shows the new plots."""
    from pathlib import Path

    from ..components.production.predict import predict_catalog
    from ..report.html import write_report

    result = predict_catalog(args.run, catalog=args.catalog, input_csv=args.input, backend=args.backend, output=args.output)
    for row in result.summary["top_10"]:
        print(f"  {row['pl_name']:<28} habitable fraction {row['habitable_fraction']:.2f} ± {row['habitable_fraction_sd']:.2f}  "
              f"{row['climate_state'].replace('_', ' ')}")
    print(f"report: {write_report(Path(args.run))}")
    return 0


def dotted_flags_to_overrides(argv: list[str]) -> list[str]:
    """`--data.smiles PATH` and `--data.smiles=PATH` are the override `data.smiles=PATH`: any flag
    whose name holds a dot is a config key (argparse's own flags have none)."""
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        name = token[2:].split("=", 1)[0]
        if token.startswith("--") and "." in name and not name.startswith("."):
            if "=" in token:
                out.append(token[2:])
            elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                out.append(f"{name}={argv[i + 1]}")
                i += 1
            else:
                raise UserError(f"{token} needs a value: {token} VALUE or {name}=VALUE")
        else:
            out.append(token)
        i += 1
    return out


def entry() -> None:
    sys.exit(main())
