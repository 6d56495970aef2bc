"""The ServerApp's rounds, checkpointed after each one, so that a killed server continues where it stopped.

Flower's `Strategy.start` runs every round in one call and keeps nothing on disk. `run_rounds` is
the same loop (configure_train → send_and_receive → aggregate_train → configure_evaluate →
send_and_receive → aggregate_evaluate → evaluate_fn, per round; the same calls in the same order, the
replies sorted by observatory) started at any round, and after every round it writes `checkpoints/last.ckpt` with the engine's
atomic writer and sha256 manifest (`runs.checkpoints.write_checkpoint`):

    round           the last round completed
    arrays          the global weights after it
    scores          the held-out metrics of rounds 0 … round
    train, evaluate every observatory's reply metrics, by round (`apps.RoundLog`)
    rng             Python's global generator (Flower samples each round's nodes, in a random order, with
                    `random.sample`: the order of the weighted sum, so the last bits of the average), numpy's
                    (Flower's DP wrappers draw their noise from it) and torch's

FedAvg, FedProx, FedTrimmedAvg, FedMedian and Krum keep no state between rounds in flwr 1.42
(their aggregation reads only the round's replies); the DP wrapper's only state across rounds is
numpy's generator. The server seeds Python's and numpy's generators with run.seed, so a federation is
reproducible, and a resumed one ends bitwise equal to an uninterrupted one.
"""

from __future__ import annotations

import io
import random
from logging import INFO
from pathlib import Path

import numpy as np
import torch

from ...faults import fault_at
from ...runs.checkpoints import load_verified, write_checkpoint

CHECKPOINT = Path("checkpoints") / "last.ckpt"


def run_rounds(strategy, grid, arrays, first_round: int, num_rounds: int, timeout: float, evaluate_fn, after_round):
    """Rounds `first_round` … `num_rounds` from the global `arrays`; returns the final global arrays.
    `evaluate_fn(round, arrays)` scores (round 0 too, when starting at 1); `after_round(round, arrays)` checkpoints."""
    from flwr.app import ConfigRecord

    if first_round == 1:
        evaluate_fn(0, arrays)
    for server_round in range(first_round, num_rounds + 1):
        say("[ROUND %s/%s]", server_round, num_rounds)
        replies = by_observatory(grid.send_and_receive(messages=strategy.configure_train(server_round, arrays, ConfigRecord(), grid),
                                                        timeout=timeout))
        fault_at("federated-round", server_round)
        aggregated, _ = strategy.aggregate_train(server_round, replies)
        if aggregated is not None:  # None: too few replies, or a DP wrapper skipping a round with a failed one
            arrays = aggregated
        replies = grid.send_and_receive(messages=strategy.configure_evaluate(server_round, arrays, ConfigRecord(), grid), timeout=timeout)
        strategy.aggregate_evaluate(server_round, by_observatory(replies))
        evaluate_fn(server_round, arrays)
        after_round(server_round, arrays)
    return arrays


def by_observatory(replies) -> list:
    """Replies in observatory order, errors last: the weighted sum (and so its last bits) and the per-observatory
    records must not depend on arrival order, which differs between runs of Ray's simulation or a deployment."""
    def key(reply):
        if reply.has_error():
            return (1, 0)
        return (0, int(reply.content["metrics"]["observatory"]))

    return sorted(replies, key=key)


def say(message: str, *args) -> None:
    """Through Flower's logger, beside its own lines (strategy summaries, DP clipping, failed replies)."""
    from flwr.common.logger import log

    log(INFO, message, *args)


def save_server_state(folder: Path, server_round: int, weights: dict, scores: dict, rounds, manifest: dict) -> None:
    """The state after `server_round`, atomically, with its manifest (global_step = the round)."""
    state = {"round": server_round, "arrays": weights, "scores": {str(r): m for r, m in scores.items()},
             "train": {str(r): m for r, m in rounds.train.items()}, "evaluate": {str(r): m for r, m in rounds.evaluate.items()},
             "rng": {"python": python_state(), "numpy": numpy_state(), "torch": torch.get_rng_state()}}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_checkpoint(Path(folder) / CHECKPOINT, buffer.getvalue(), {"global_step": server_round, "epoch": server_round, **manifest})


def load_server_state(path: Path, scores: dict, rounds) -> tuple[int, dict]:
    """Restore a checkpoint (verified, weights-only) into `scores`, `rounds` and the generators; returns (round, weights)."""
    state = load_verified(path)
    scores.update({int(r): m for r, m in state["scores"].items()})
    rounds.train.update({int(r): m for r, m in state["train"].items()})
    rounds.evaluate.update({int(r): m for r, m in state["evaluate"].items()})
    rounds.current = state["round"] + 1
    set_python_state(state["rng"]["python"])
    set_numpy_state(state["rng"]["numpy"])
    torch.set_rng_state(state["rng"]["torch"])
    return state["round"], state["arrays"]


def seed_generators(seed: int) -> None:
    """Python's and numpy's global generators, which Flower's strategies draw from."""
    random.seed(seed)
    np.random.seed(seed)


def python_state() -> dict:
    version, internal, gauss = random.getstate()
    return {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss}


def set_python_state(state: dict) -> None:
    random.setstate((state["version"], tuple(int(x) for x in state["internal"].tolist()), state["gauss"]))


def numpy_state() -> dict:
    """numpy's global Mersenne Twister as tensors and numbers (loadable with weights_only=True)."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def set_numpy_state(state: dict) -> None:
    np.random.set_state((state["name"], state["keys"].numpy().astype(np.uint32), state["position"], state["has_gauss"],
                         state["cached_gaussian"]))
