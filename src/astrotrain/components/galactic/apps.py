"""The Flower apps of the federation (Message API, flwr 1.42): an observatory's ClientApp, the ServerApp.

ClientApp (one per observatory, `partition-id` of its node config = its index):
  @train    load the global weights, `local_update` on its own shard, reply weights + metrics;
            fault injection from the config: `failing_observatory` raises, `poisoned_observatory`
            replies w_global + poison_scale · (w_local − w_global) (sign-flipped and scaled).
  @evaluate its own validation planets scored with the global weights (per-observatory metrics).
ServerApp: the configured strategy (`flwr.serverapp.strategy`) run round by round (`rounds.run_rounds`,
  Flower's `Strategy.start` loop, checkpointed after every round and resumable), scored after every
  round on the held-out planets, every reply's metrics recorded per observatory (`RoundLog`), the
  result written to `federation_result.json` + the final weights.

Both read their settings either from the `Settings` they are built with (simulation) or from
the file named by the run config's `federation` key (deployment: `flwr run` ships the app,
each SuperNode holds its own shard).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...config.loader import validate
from ...fsutil import atomic_write_json
from .config import GalacticConfig
from .data import FUSION_TRUNK_FILE, HELD_OUT_FILE, load_shard, shard_path
from .model import build_trunk, held_out_metrics, local_update, trunk_state
from .observatory_state import MEAN_STRATEGIES, gaussian_dp_epsilon, record_round, state_before
from .rounds import load_server_state, run_rounds, save_server_state, say, seed_generators

SETTINGS_FILE = "federation.json"
RESULT_FILE = "federation_result.json"
GLOBAL_WEIGHTS_FILE = "global_model.safetensors"


@dataclass
class Settings:
    folder: str  # the phase folder: shards, settings, result
    seed: int
    galactic: dict  # components.galactic, as JSON
    fusion_config: dict  # the fusion run's MasterConfig, as JSON
    feature_dims: dict[str, int] = field(default_factory=dict)
    resume: str | None = None  # a server checkpoint (rounds.CHECKPOINT) to continue from
    manifest: dict = field(default_factory=dict)  # what every server checkpoint's manifest records (config, its fingerprint)

    def save(self) -> Path:
        path = Path(self.folder) / SETTINGS_FILE
        atomic_write_json(path, asdict(self))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Settings":
        return cls(**json.loads(Path(path).read_text()))

    def config(self):
        return GalacticConfig.model_validate(self.galactic)

    def trunk(self):
        module = build_trunk(validate(self.fusion_config, source="fusion config"), self.feature_dims, self.seed)
        if self.galactic.get("init") == "fusion":  # federated fine-tuning of phase 2's model
            from safetensors.torch import load_file

            module.model.load_state_dict(load_file(str(Path(self.folder) / FUSION_TRUNK_FILE)))
        return module


def settings_of(fixed: Settings | None, context) -> Settings:
    return fixed if fixed is not None else Settings.load(context.run_config["federation"])


def make_client_app(fixed: Settings | None = None):
    from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.clientapp.mod import fixedclipping_mod

    app = ClientApp()

    def clip_when_asked(msg: Message, context: Context, call_next):
        """Flower's client-side DP clipping, for runs whose server wraps the strategy with DP."""
        if "clipping_norm" in msg.content["config"]:
            return fixedclipping_mod(msg, context, call_next)
        return call_next(msg, context)

    @app.train(mods=[clip_when_asked])
    def train(msg: Message, context: Context) -> Message:
        settings = settings_of(fixed, context)
        gc, k = settings.config(), int(context.node_config["partition-id"])
        config = msg.content["config"]
        if gc.failing_observatory == k:
            raise RuntimeError(f"observatory {gc.observatories[k].name} failed (components.galactic.failing_observatory={k})")
        module = settings.trunk()
        global_state = msg.content["arrays"].to_torch_state_dict()
        module.model.load_state_dict(global_state)
        server_round, path = int(config["server-round"]), shard_path(settings.folder, k)
        shard = load_shard(path)["train"]
        seed = settings.seed * 1_000_003 + server_round * 1009 + k
        stats = local_update(module, shard, gc.local_epochs, gc.batch_size, gc.lr, gc.weight_decay,
                             float(config.get("proximal-mu", 0.0)), seed)
        state = trunk_state(module)
        if gc.poisoned_observatory == k:
            state = {name: global_state[name] + gc.poison_scale * (w - global_state[name]) for name, w in state.items()}
        own = state_before(context, path, server_round)
        private = "clipping_norm" in config  # the server adds Gaussian noise to the clipped updates
        own = {"last_round": server_round, "rounds_trained": own["rounds_trained"] + 1, "local_steps": own["local_steps"] + stats["steps"],
               "dp_rounds": own["dp_rounds"] + int(private)}
        record_round(context, path, own)
        # under DP the mean is unweighted: the noise is calibrated to one observatory's clipped update out of K
        metrics = {"num-examples": 1 if private else len(shard["state"]), "train_loss": stats["train_loss"], "observatory": k,
                   "rounds_trained": own["rounds_trained"]}
        if private and gc.strategy in MEAN_STRATEGIES:
            metrics["dp_epsilon"] = gaussian_dp_epsilon(own["dp_rounds"], gc.dp_noise_multiplier, gc.dp_delta)
        return Message(content=RecordDict({"arrays": ArrayRecord(state), "metrics": MetricRecord(metrics)}), reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        settings = settings_of(fixed, context)
        k = int(context.node_config["partition-id"])
        module = settings.trunk()
        module.model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
        val = load_shard(shard_path(settings.folder, k))["val"]
        n = len(val["state"])
        scores = held_out_metrics(module, val) if n else {}
        # num-examples ≥ 1: Flower's weighted mean divides by their sum; val-planets says whether the scores mean anything
        metrics = {"num-examples": max(n, 1), "val-planets": n, "observatory": k, "accuracy": scores.get("accuracy", 0.0), "score": scores.get("score", 0.0)}
        return Message(content=RecordDict({"metrics": MetricRecord(metrics)}), reply_to=msg)

    return app


class RoundLog:
    """The strategy's metric aggregation, keeping every observatory's own reply, by round.

    Flower calls the aggregation without the round number; `evaluate_fn` runs after each round's
    aggregation, so the round being aggregated is the one after the last scored round. A round
    whose aggregation was skipped (the DP wrappers skip it when any reply is an error) has no entry."""

    def __init__(self):
        self.current = 1
        self.train: dict[int, list[dict]] = {}
        self.evaluate: dict[int, list[dict]] = {}

    def _record(self, store: dict, records, weighting_key: str):
        from flwr.serverapp.strategy.strategy_utils import aggregate_metricrecords

        store[self.current] = [{k: float(v) for k, v in r["metrics"].items()} for r in records]
        aggregated = aggregate_metricrecords(records, weighting_key)
        aggregated.pop("observatory", None)  # an index, not a metric
        return aggregated

    def on_train(self, records, weighting_key: str):
        return self._record(self.train, records, weighting_key)

    def on_evaluate(self, records, weighting_key: str):
        return self._record(self.evaluate, records, weighting_key)


def make_strategy(gc, log_: RoundLog, n_observatories: int):
    from flwr.serverapp import strategy as fl

    common = {"fraction_train": 1.0, "fraction_evaluate": 1.0, "min_train_nodes": gc.min_train_nodes, "min_evaluate_nodes": gc.min_train_nodes,
              "min_available_nodes": gc.min_train_nodes, "train_metrics_aggr_fn": log_.on_train, "evaluate_metrics_aggr_fn": log_.on_evaluate}
    chosen = {
        "fedavg": lambda: fl.FedAvg(**common),
        "fedprox": lambda: fl.FedProx(proximal_mu=gc.proximal_mu, **common),
        "fedtrimmedavg": lambda: fl.FedTrimmedAvg(beta=gc.trim_beta, **common),
        "fedmedian": lambda: fl.FedMedian(**common),
        "krum": lambda: fl.Krum(num_malicious_nodes=gc.krum_malicious, **common),
    }[gc.strategy]()
    if gc.dp_noise_multiplier is not None:
        chosen = fl.DifferentialPrivacyClientSideFixedClipping(chosen, noise_multiplier=gc.dp_noise_multiplier,
                                                               clipping_norm=gc.dp_clipping_norm, num_sampled_clients=n_observatories)
    return chosen


def make_server_app(fixed: Settings | None = None):
    from flwr.app import Context
    from flwr.serverapp import Grid, ServerApp

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        server_main(settings_of(fixed, context), grid)

    return app


def server_main(settings: Settings, grid) -> None:
    """The federation on `grid`: the strategy's rounds (checkpointed after each; resumed from `settings.resume`),
    then the result and final weights."""
    from flwr.app import ArrayRecord
    from safetensors.torch import save_file

    gc = settings.config()
    module = settings.trunk()
    initial = trunk_state(module)
    held_out = load_shard(Path(settings.folder) / HELD_OUT_FILE)["test"]
    rounds = RoundLog()
    strategy = make_strategy(gc, rounds, len(gc.observatories))
    scores: dict[int, dict] = {}
    seed_generators(settings.seed)  # Flower samples nodes with `random`, its DP wrappers draw noise with numpy
    done, arrays = 0, ArrayRecord(initial)
    if settings.resume:
        done, weights = load_server_state(Path(settings.resume), scores, rounds)
        arrays = ArrayRecord(weights)
        say("federation resumed after round %d of %d from %s", done, gc.rounds, settings.resume)

    def score(server_round: int, arrays: ArrayRecord) -> None:
        module.model.load_state_dict(arrays.to_torch_state_dict())
        scores[server_round] = held_out_metrics(module, held_out)
        rounds.current = server_round + 1

    def checkpoint(server_round: int, arrays: ArrayRecord) -> None:
        save_server_state(Path(settings.folder), server_round, arrays.to_torch_state_dict(), scores, rounds, settings.manifest)

    final = run_rounds(strategy, grid, arrays, done + 1, gc.rounds, gc.round_timeout_s, score, checkpoint).to_torch_state_dict()
    save_file({k: v.contiguous() for k, v in final.items()}, str(Path(settings.folder) / GLOBAL_WEIGHTS_FILE))
    atomic_write_json(Path(settings.folder) / RESULT_FILE, {
        "held_out": {str(r): m for r, m in sorted(scores.items())},  # round 0: the initial weights
        "observatory_train": {str(r): m for r, m in sorted(rounds.train.items())},  # rounds whose aggregation was skipped are absent
        "observatory_evaluate": {str(r): m for r, m in sorted(rounds.evaluate.items())},
        "model_bytes": sum(v.numel() * v.element_size() for v in initial.values()),
        "observatories": len(gc.observatories),
    })
    say("federation finished: %d rounds, held-out score %.4f", gc.rounds, scores[max(scores)]["score"])
