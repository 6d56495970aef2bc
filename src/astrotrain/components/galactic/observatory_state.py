"""What an observatory keeps between rounds, and across a crash of its node: rounds trained, local steps,
and the privacy budget its updates have spent under DP.

The record lives in Flower's `context.state` (a ConfigRecord the SuperNode keeps for the run) and is
mirrored, per round, to a JSON file beside the observatory's own shard, so a node that crashed and
rejoined picks it up. A round's training reads the record of the rounds before it: a round a
killed server runs again sees the same state as the first time (bitwise-equal resumes).

Privacy accounting: with client-side fixed clipping (norm C) and server-side Gaussian noise of
standard deviation z·C/K on the unweighted mean of K clipped updates (under DP the observatories
report one example each, so FedAvg and FedProx average uniformly), one round is the Gaussian
mechanism with noise multiplier z on each observatory's contribution; T participations compose to Rényi DP
ε_α = T·α/(2z²) (Mironov 2017, "Rényi Differential Privacy", Prop. 7 and Cor. 3), converted to
(ε, δ)-DP by ε = min_α [ε_α + ln(1/δ)/(α − 1)] (ibid., Prop. 3). Every observatory takes part in
every round (fraction_train = 1), so there is no amplification by subsampling. The robust
strategies (trimmed mean, median, Krum) are not a sum of bounded contributions: no ε is reported.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...fsutil import atomic_write_json

MEAN_STRATEGIES = ("fedavg", "fedprox")  # aggregations the Gaussian-mechanism accounting holds for
STATE_KEY = "observatory"
KEPT_ROUNDS = 3  # records kept in the file: a resumed server repeats at most the round after its checkpoint
RDP_ORDERS = np.concatenate([np.linspace(1.01, 10.99, 999), np.arange(11.0, 1025.0)])


def gaussian_dp_epsilon(rounds: int, noise_multiplier: float, delta: float) -> float:
    """(ε, δ)-DP of `rounds` compositions of the Gaussian mechanism with `noise_multiplier` (RDP accountant)."""
    if rounds == 0:
        return 0.0
    if noise_multiplier == 0:
        return float("inf")
    rdp = rounds * RDP_ORDERS / (2.0 * noise_multiplier**2)
    return float(np.min(rdp + np.log(1.0 / delta) / (RDP_ORDERS - 1.0)))


def state_file(shard: Path) -> Path:
    return Path(shard).with_name(Path(shard).stem + "-state.json")


def state_before(context, shard: Path, server_round: int) -> dict:
    """The observatory's record as it stood before `server_round` (a fresh one before its first round)."""
    record = context.state.get(STATE_KEY)
    if record is not None and int(record["last_round"]) < server_round:
        return dict(record)
    path = state_file(shard)
    history = json.loads(path.read_text()) if path.is_file() else {}
    earlier = [int(r) for r in history if int(r) < server_round]
    return history[str(max(earlier))] if earlier else {"last_round": 0, "rounds_trained": 0, "local_steps": 0, "dp_rounds": 0}


def record_round(context, shard: Path, state: dict) -> None:
    """Keep the record after a round: in context.state and in the node's own file (the last KEPT_ROUNDS rounds)."""
    from flwr.app import ConfigRecord

    context.state[STATE_KEY] = ConfigRecord(state)
    path = state_file(shard)
    history = json.loads(path.read_text()) if path.is_file() else {}
    # rounds from this one on belong to a run that ended (a killed server's, or an earlier federation's)
    history = {r: v for r, v in history.items() if int(r) < state["last_round"]}
    history[str(state["last_round"])] = state
    atomic_write_json(path, {r: history[r] for r in sorted(history, key=int)[-KEPT_ROUNDS:]})
