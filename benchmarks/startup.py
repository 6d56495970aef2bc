"""5. Start-up: how long a user waits before anything happens (each command in a fresh process).

Goals: `python train.py --help` < 1 s, `--validate-only` < 2 s. Beside them, the reference every
Python command pays: the interpreter starting (`python -c pass`). Import times: `import astrotrain`
(the package: lazy, imports no torch), the training runner, and the stack a run imports before
its first step (torch with Lightning), from `python -X importtime`.
"""

from __future__ import annotations

import re
import subprocess
import sys

from .harness import ROOT, Context, Section, Spread, intro, repeat, table

GOALS = {"help": 1.0, "validate": 2.0}


def _command(args: list[str]):
    def call():
        res = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"{args} failed: {res.stderr[-2000:]}")
    return call


def import_seconds(module: str) -> float:
    """Cumulative import time of `module` in a fresh interpreter (python -X importtime)."""
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""})
    pattern = re.compile(r"import time:\s+\d+ \|\s+(\d+) \|\s+(\S+)$")
    total = [int(m.group(1)) for line in res.stderr.splitlines() if (m := pattern.search(line)) and m.group(2) == module]
    if not total:
        raise RuntimeError(f"no import time for {module}: {res.stderr[-2000:]}")
    return total[-1] * 1e-6


def run(ctx: Context) -> Section:
    repeats = max(3, ctx.repeats)
    baseline = repeat(_command(["-c", "pass"]), repeats)
    commands = {
        "`python train.py --help`": ("help", ["train.py", "--help"]),
        "`python train.py --validate-only`": ("validate", ["train.py", "--validate-only"]),
    }
    rows, results = [["`python -c pass` (reference)", baseline.show("{:.3f}", " s"), "1×", ""]], {"python": baseline.__dict__}
    for label, (key, args) in commands.items():
        t = repeat(_command(args), repeats)
        goal = GOALS[key]
        rows.append([label, t.show("{:.3f}", " s"), f"{t.median / baseline.median:.1f}×", f"< {goal:g} s: {'met' if t.high < goal else 'MISSED'}"])
        results[key] = t.__dict__
    for module in ("astrotrain", "astrotrain.engine.runner", "lightning"):
        t = Spread.of([import_seconds(module) * 1e3 for _ in range(repeats)])
        rows.append([f"`import {module}`", t.show("{:.1f}", " ms"), f"{t.median / 1e3 / baseline.median:.2f}×", "(import time only)"])
        results[f"import {module}"] = t.__dict__
    return Section("5. Start-up", intro(__doc__),
                   tables=[table(["command", "wall time", "vs interpreter start", "goal"], rows)],
                   notes=["`train.py` and the CLI import nothing heavy until a run needs it: config checks run on pydantic alone."],
                   results=results)
