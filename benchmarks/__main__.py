"""`make bench` = `python -m benchmarks`: every table of BENCHMARKS.md, measured on this machine.

    python -m benchmarks                  # all ten sections → BENCHMARKS.md (~1.5 h on 2 CPU cores: section 9 trains four retrievals, 10 seven surrogates)
    python -m benchmarks --only 1,7       # some sections → runs/benchmarks/BENCHMARKS.md (the committed file stays whole)
    python -m benchmarks --only 8 --update  # remeasure some sections inside BENCHMARKS.md (each section says when it was measured)
    python -m benchmarks --quick          # tiny sizes, one repeat: checks that every section runs (the test suite does this)

Raw figures of every run go to runs/benchmarks/results-<date>.json (--results-dir).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import harness
from .harness import ROOT, Context

# run order: generation (4) makes the universes scaling (6) trains on; the rest read the default universe
ORDER = ("startup", "mfu", "overhead", "loading", "generation", "physics_speed", "scaling", "streaming", "retrieval", "transfer")
NUMBER = {"overhead": 1, "loading": 2, "physics_speed": 3, "generation": 4, "startup": 5, "scaling": 6, "mfu": 7, "streaming": 8, "retrieval": 9,
          "transfer": 10}
QUICK_UNIVERSE = 256  # planets of the default universe in --quick mode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="comma-separated section numbers (1-9)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and one repeat: a check that every section runs")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of each measurement (default 3; 1 with --quick)")
    parser.add_argument("--output", type=Path, default=None, help="markdown file to write (default BENCHMARKS.md for a full run)")
    parser.add_argument("--update", action="store_true", help="with --only: replace those sections of BENCHMARKS.md, keep the others")
    parser.add_argument("--keep-universes", action="store_true", help="keep section 8's large universes in runs/benchmarks/universes for reruns")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "runs" / "benchmarks", help="where the raw figures (JSON) go")
    args = parser.parse_args(argv)
    wanted = set(int(x) for x in args.only.split(",")) if args.only else set(NUMBER.values())
    partial = args.quick or wanted != set(NUMBER.values())
    if args.update and (args.quick or not args.only):
        parser.error("--update goes with --only (and not with --quick)")
    output = args.output or (args.results_dir / "BENCHMARKS.md" if partial and not args.update else ROOT / "BENCHMARKS.md")
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    scratch = Path(tempfile.mkdtemp(prefix="astrotrain-bench-"))
    ctx = Context(workdir=scratch, repeats=args.repeats or (1 if args.quick else 3), quick=args.quick,
                  universe_cache=args.results_dir / "universes" if args.keep_universes else None)
    if args.quick:
        harness.BASE_OVERRIDES[:] = [f"data.universe.n_planets={QUICK_UNIVERSE}", f"data.universe.cache_dir={scratch / 'universes'}",
                                     "components.production.throughput_seconds=0.05", "components.production.latency_calls=20",
                                     "components.production.batch_sizes=[1,64]", "components.evolution.speed_trajectories=8"]
    import importlib

    from astrotrain.engine.trainer import quiet_third_party_noise
    from astrotrain.universe.generate import ensure_universe

    quiet_third_party_noise()
    started = time.perf_counter()
    ensure_universe(harness.config().data.universe, progress=False)  # the default universe: generated once, outside the timings
    sections, results = {}, {"machine": harness.machine(), "quick": args.quick, "repeats": ctx.repeats}
    try:
        for name in ORDER:
            if NUMBER[name] not in wanted:
                continue
            print(f"benchmarks: {NUMBER[name]}. {name} ...", flush=True)
            section_started = time.perf_counter()
            section = importlib.import_module(f"benchmarks.{name}").run(ctx)
            section.notes.append(f"section measured in {time.perf_counter() - section_started:.0f} s at commit "
                                 f"{results['machine']['commit']}, {time.strftime('%Y-%m-%d')}")
            sections[NUMBER[name]] = section
            results[name] = section.results
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    total = time.perf_counter() - started
    from astrotrain.fsutil import atomic_write_text

    output.parent.mkdir(parents=True, exist_ok=True)
    text = render(sections, results["machine"], total, args)
    if args.update:
        text = replace_sections(output.read_text(), sections)
    atomic_write_text(output, text)
    raw = args.results_dir / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps({**results, "total_s": total}, indent=1, default=str))
    print(f"benchmarks: {len(sections)} sections in {total / 60:.1f} min → {output} (raw figures: {raw})")
    return 0


def render(sections: dict, machine: dict, total: float, args) -> str:
    command = "make bench" if not (args.quick or args.only) else f"python -m benchmarks {' '.join(sys.argv[1:])}".strip()
    lines = [
        "# astrotrain benchmarks",
        "",
        f"Generated by `{command}` — do not edit by hand; rerun it. Every figure is measured on the machine below, in one",
        "run, as a ratio against a reference measured right beside it (same process or same run); `median (min–max)` over",
        f"{'one run' if args.quick else 'the repeats'} unless a table says otherwise. Whole suite: {total / 60:.1f} min.",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in machine.items()],
        "",
    ]
    for number in sorted(sections):
        lines.append(sections[number].markdown())
    return "\n".join(lines)


def replace_sections(markdown: str, sections: dict) -> str:
    """`markdown` (a whole BENCHMARKS.md) with its sections `## N.` replaced by the newly measured ones."""
    import re

    parts = re.split(r"(?m)^(?=## \d+\. )", markdown)
    head, body = parts[0], {int(p.split(".", 1)[0].removeprefix("## ")): p for p in parts[1:]}
    body.update({n: s.markdown() + "\n" for n, s in sections.items()})
    return head + "".join(body[n] for n in sorted(body))


if __name__ == "__main__":
    sys.exit(main())
