"""`astrotrain evaluate RUN`: the held-out test metrics of a run's last checkpoint, as JSON.

The DVC pipeline's last stage. The checkpoint is verified against its manifest and loaded
weights-only; the data module is rebuilt from the run's own config.yaml.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config.loader import read_yaml, validate
from ..config.registry import get_component
from ..errors import UserError
from ..fsutil import atomic_write_json
from ..runs.checkpoints import read_manifest
from ..universe.generate import ensure_universe
from .checkpoint import make_checkpoint_io
from .trainer import quiet_third_party_noise, resolve_accelerator


def evaluate_run(run: Path) -> dict:
    import lightning as L

    ckpt = run / "checkpoints" / "last.ckpt"
    if not (run / "config.yaml").is_file():
        raise UserError(f"{run} is not a run directory (no config.yaml)")
    manifest = read_manifest(ckpt)
    cfg = validate(read_yaml(run / "config.yaml"), source=str(run / "config.yaml"))
    spec = get_component(cfg.run.component)
    universe = ensure_universe(cfg.data.universe, progress=False) if spec.reads_universe(cfg) else None
    L.seed_everything(cfg.run.seed, workers=True, verbose=False)
    datamodule = spec.resolve("datamodule")(cfg, universe)
    module = spec.resolve("module")(cfg, datamodule)
    quiet_third_party_noise()
    trainer = L.Trainer(
        accelerator=resolve_accelerator(cfg.trainer.accelerator), devices=1, logger=False, enable_progress_bar=False,
        enable_checkpointing=False, enable_model_summary=False, deterministic=cfg.run.deterministic,
        plugins=[make_checkpoint_io(manifest["config"], manifest["config_fingerprint"])],
    )
    test = trainer.test(module, datamodule=datamodule, ckpt_path=str(ckpt), weights_only=True, verbose=False)[0]
    return {
        "run": str(run),
        "component": spec.name,
        "checkpoint": ckpt.name,
        "checkpoint_sha256": manifest["sha256"],
        "global_step": manifest["global_step"],
        "universe_sha256": universe.manifest["sha256"] if universe else None,
        "test": {k.removeprefix("test/"): float(v) for k, v in test.items()},
    }


def run_evaluate(args: argparse.Namespace) -> int:
    run = Path(args.run)
    result = evaluate_run(run)
    out = Path(args.out) if args.out else run / "evaluation.json"
    atomic_write_json(out, result)
    print(f"{result['component']} at step {result['global_step']}: " + ", ".join(f"{k}={v:.4g}" for k, v in result["test"].items()))
    print(f"written: {out}")
    return 0
