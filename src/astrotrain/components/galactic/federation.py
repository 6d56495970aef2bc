"""Phase 4, top to bottom: setup → federate → central reference → metrics and report.

    setup       shards (data.build_shards) and the apps' settings in the phase folder
    federate    the ServerApp's strategy over K observatories: in-process grid, or Flower's
                simulation engine (Ray), or — across sites — SuperLink + SuperNodes (README)
    central     the same trunk trained on the pooled shards for the same epochs (what the
                federation would reach if the observatories could share their data)
    metrics     federated vs central on the held-out planets, rounds to 95 % of the central
                score, communication per round, per-observatory curves; plots into plots/

The ServerApp checkpoints after every round (`rounds.py`); `--resume` continues a killed federation
at the next round and ends bitwise equal to an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch

from ...errors import UserError
from ...fsutil import atomic_write_json
from ...runs.run import open_run
from . import apps
from .data import HELD_OUT_FILE, build_shards, load_shard, shard_path
from .inprocess import make_local_grid
from .model import held_out_metrics, local_update


def run_federation(cfg, universe, folder: Path, resume: Path | None = None, manifest: dict | None = None) -> dict:
    """Run phase 4 into `folder` (from the server checkpoint `resume`, when given); returns the metrics
    (also written to metrics.json by the caller). `manifest`: what each server checkpoint records."""
    gc = cfg.components.galactic
    torch.use_deterministic_algorithms(cfg.run.deterministic)  # as the Trainer does for the Lightning components
    started = time.perf_counter()
    summary = build_shards(cfg, universe, folder)
    settings = apps.Settings(folder=str(folder), seed=cfg.run.seed, galactic=gc.model_dump(mode="json"),
                             fusion_config=summary.pop("fusion_config").model_dump(mode="json"), feature_dims=summary["feature_dims"],
                             resume=str(resume) if resume else None, manifest=manifest or {})
    settings.save()
    setup_s = time.perf_counter() - started

    started = time.perf_counter()
    federate(settings, gc.backend, len(gc.observatories))
    federate_s = time.perf_counter() - started
    result = json.loads((folder / apps.RESULT_FILE).read_text())

    started = time.perf_counter()
    central = central_reference(settings)
    central_s = time.perf_counter() - started
    return summarise(gc, summary, result, central, fusion_test_metrics(gc.fusion), {"setup_s": setup_s, "federate_s": federate_s, "central_s": central_s})


def federate(settings: "apps.Settings", backend: str, n_observatories: int) -> None:
    """The ServerApp and the K observatories' ClientApp, on the chosen simulation backend."""
    client, server = apps.make_client_app(settings), apps.make_server_app(settings)
    logging.getLogger("flwr").setLevel(logging.INFO)
    if backend == "inprocess":
        apps.server_main(settings, make_local_grid(client, n_observatories))
        return
    from flwr.simulation import run_simulation

    gc = settings.config()
    run_simulation(server_app=server, client_app=client, num_supernodes=n_observatories,
                   backend_config={"client_resources": {"num_cpus": gc.client_cpus, "num_gpus": gc.client_gpus},
                                   "init_args": {"num_cpus": gc.simulation_cpus or len(os.sched_getaffinity(0)),
                                                 "num_gpus": gc.simulation_gpus, "include_dashboard": False}})
    if not (Path(settings.folder) / apps.RESULT_FILE).is_file():
        raise RuntimeError(f"the Flower simulation ended without a result ({apps.RESULT_FILE}); see its log above")


def central_reference(settings: "apps.Settings") -> dict:
    """The trunk trained on every observatory's shard pooled, for rounds × local_epochs epochs."""
    import torch

    gc = settings.config()
    shards = [load_shard(shard_path(settings.folder, k))["train"] for k in range(len(gc.observatories))]
    pooled = {key: torch.cat([s[key] for s in shards]) for key in shards[0]}
    module = settings.trunk()
    local_update(module, pooled, gc.rounds * gc.local_epochs, gc.batch_size, gc.lr, gc.weight_decay, 0.0, settings.seed)
    return held_out_metrics(module, load_shard(Path(settings.folder) / HELD_OUT_FILE)["test"])


def fusion_test_metrics(fusion_run: str) -> dict | None:
    try:
        return open_run(Path(fusion_run)).metrics("integrate")["test"]
    except UserError:
        return None


def summarise(gc, summary: dict, result: dict, central: dict, fusion: dict | None, times: dict) -> dict:
    held_out = {int(r): m for r, m in result["held_out"].items()}
    final = held_out[max(held_out)]
    target = 0.95 * central["score"]
    reached = [r for r, m in sorted(held_out.items()) if r > 0 and m["score"] >= target]
    k = result["observatories"]
    aggregated = {int(r): len(m) for r, m in result["observatory_train"].items()}
    replies = [aggregated.get(r, k) for r in range(1, gc.rounds + 1)]  # a skipped aggregation: counted as k replies (an upper bound)
    mb = result["model_bytes"] / 2**20
    per_round_mb = [mb * (2 * k + n) for n in replies]  # weights to every node for training and for evaluation, and each reply
    baselines = {
        "central_score": central["score"], "central_accuracy": central["accuracy"],
        "federated_share_of_central_score": final["score"] / central["score"],
        "rounds_to_95pct_of_central": reached[0] if reached else None,  # None: not reached in the rounds run
        "model_mb": mb, "communication_mb_per_round": float(np.mean(per_round_mb)),
        "failed_train_replies": int(sum(k - n for n in aggregated.values())),
        "rounds_without_aggregation": gc.rounds - len(aggregated),  # DP wrappers skip a round with any failed reply
        **({"dp_epsilon_max": max(m["dp_epsilon"] for ms in result["observatory_train"].values() for m in ms)}
           if any("dp_epsilon" in m for ms in result["observatory_train"].values() for m in ms) else {}),  # the largest budget spent
        **({f"phase2_fusion_{key}": fusion[key] for key in ("score", "accuracy")} if fusion else {}),
        **{f"{key.removesuffix('_s')}_wall_time_s": round(value, 1) for key, value in times.items()},
    }
    return {"test": final, "baselines": baselines, "rounds": gc.rounds, "observatories": summary["observatories"],
            "held_out_per_round": {str(r): m for r, m in sorted(held_out.items())}, "central": central,
            "communication_mb_per_round": per_round_mb}


def write_round_table(folder: Path, metrics: dict, result: dict, names: list[str]) -> None:
    """rounds.json: per round the held-out metrics and each observatory's train loss and validation accuracy."""
    rows = []
    for r in range(1, metrics["rounds"] + 1):
        train, evaluate = result["observatory_train"].get(str(r), []), result["observatory_evaluate"].get(str(r), [])
        rows.append({"round": r, "held_out": metrics["held_out_per_round"][str(r)], "aggregated": str(r) in result["observatory_train"],
                     "observatories": {names[int(m["observatory"])]: {"train_loss": m["train_loss"]} for m in train},
                     "validation": {names[int(m["observatory"])]: {"accuracy": m["accuracy"], "score": m["score"]} for m in evaluate if m["val-planets"] > 0},
                     "communication_mb": metrics["communication_mb_per_round"][r - 1]})
    atomic_write_json(folder / "rounds.json", rows)
