"""What every benchmark section shares: repeated timing with median and spread, markdown tables,
the machine description, and configs built from the master config with overrides."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
MASTER = ROOT / "config" / "master_training.yaml"
BASE_OVERRIDES: list[str] = []  # applied to every config first (--quick: a small default universe in the scratch folder)


@dataclass
class Context:
    """Where a section may write (a scratch folder), how many repeats it takes, the quick mode."""

    workdir: Path
    repeats: int = 3
    quick: bool = False
    universe_cache: Path | None = None  # --keep-universes: the large universes of section 8 survive the run


@dataclass
class Section:
    title: str
    intro: str
    tables: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    results: dict = field(default_factory=dict)

    def markdown(self) -> str:
        parts = [f"## {self.title}", "", self.intro.strip(), ""]
        for table in self.tables:
            parts += [table, ""]
        parts += [f"- {note}" for note in self.notes]
        return "\n".join(parts).rstrip() + "\n"


@dataclass
class Spread:
    """Median of repeated measurements and their range."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values) -> "Spread":
        values = [float(v) for v in values]
        return cls(statistics.median(values), min(values), max(values), len(values))

    def scaled(self, factor: float) -> "Spread":
        return Spread(self.median * factor, self.low * factor, self.high * factor, self.n)

    def show(self, fmt: str = "{:.3g}", unit: str = "") -> str:
        if self.n == 1:
            return f"{fmt.format(self.median)}{unit}"
        return f"{fmt.format(self.median)}{unit} ({fmt.format(self.low)}–{fmt.format(self.high)})"


def repeat(call: Callable[[], object], repeats: int, warmup: int = 1) -> Spread:
    """Wall time of `call()` in seconds, `repeats` times after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return Spread.of(times)


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def config(*overrides: str, output_dir: Path | None = None, cache_dir: Path | None = None):
    """The master config with `overrides` (dotted key=value), writing runs under `output_dir`."""
    from astrotrain.config.loader import load_config

    extra = [f"run.output_dir={output_dir}"] if output_dir else []
    extra += [f"data.universe.cache_dir={cache_dir}"] if cache_dir else []
    cfg, _ = load_config(MASTER, ["trainer.accelerator=cpu", *BASE_OVERRIDES, *extra, "trainer.enable_progress_bar=false", *overrides])
    return cfg


def machine() -> dict:
    """CPU model, cores this process may use, memory, library versions, git commit, date."""
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    except (ValueError, OSError):
        memory = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit, dirty = "unknown", ""
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": memory,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "os": f"{platform.system()} {platform.release()}",
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited from the parent across fork/exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def intro(doc: str) -> str:
    """A section module's docstring without its first paragraph (the title)."""
    return doc.split("\n\n", 1)[1]
