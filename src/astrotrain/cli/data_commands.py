"""`astrotrain data ...`: build and inspect the data universe."""

from __future__ import annotations

import argparse


def run_data(args: argparse.Namespace) -> int:
    from ..config.loader import load_config
    from .parser import default_config_path

    cfg, _ = load_config(args.config or default_config_path(), list(args.overrides))
    if args.data_command == "generate":
        from ..universe.generate import ensure_universe, universe_path

        existed = (universe_path(cfg.data.universe) / "manifest.json").exists()
        universe = ensure_universe(cfg.data.universe, progress=not args.no_progress)
        m = universe.manifest
        print(f"{'reused' if existed else 'generated'} universe: {universe.path}")
        print(f"  planets: {m['n_planets']}  seed: {m['seed']}  clero: {m['clero_version']}  sha256: {m['sha256']}")
        print("  climate states: " + ", ".join(f"{k}={v}" for k, v in m["climate_state_counts"].items()))
    return 0
