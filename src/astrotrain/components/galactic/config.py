"""Settings of the federated ("galactic") component (`components.galactic` in the master config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ...config.base import Section


class ObservatoryConfig(Section):
    """One observatory: which host stars it observes, with which instrument, and how many planets."""

    name: str = Field(description="observatory name (logs, per-observatory metrics)")
    host_star_teff_k: tuple[float, float] = Field(description="range of host-star temperatures it observes, K [min, max)")
    instrument: str = Field(description="key of components.spectral.instruments its spectra are observed with")
    share: float = Field(gt=0, le=1, description="share of the training planets around its stars that it holds")


DEFAULT_OBSERVATORIES = [
    # cool M dwarfs: JWST NIRSpec PRISM (0.6–5.3 µm, R 100, 10 ppm), the best-studied small-star sample
    ObservatoryConfig(name="jwst-nirspec", host_star_teff_k=(2300, 3400), instrument="jwst_nirspec_prism", share=1.0),
    # warm M dwarfs: JWST MIRI LRS (5–12 µm, R 50, 30 ppm), a small thermal-infrared sample
    ObservatoryConfig(name="jwst-miri", host_star_teff_k=(3400, 3900), instrument="jwst_miri_lrs", share=0.4),
    # K dwarfs: Ariel (0.5–7.8 µm, R 50, 20 ppm), a survey mission
    ObservatoryConfig(name="ariel", host_star_teff_k=(3900, 5300), instrument="ariel", share=1.0),
    # Sun-like stars: a future photon-limited mission (0.5–20 µm, R 100, 1 ppm), few targets
    ObservatoryConfig(name="habitable-worlds", host_star_teff_k=(5300, 7000), instrument="future_1ppm", share=0.5),
    # every host type: a ground-based survey with Ariel-like coverage, a third of the planets
    ObservatoryConfig(name="ground-survey", host_star_teff_k=(2300, 7000), instrument="ariel", share=0.3),
]
Strategy = Literal["fedavg", "fedprox", "fedtrimmedavg", "fedmedian", "krum"]


class GalacticConfig(Section):
    enabled: bool = Field(True, description="phase 4 of the full pipeline")
    batch_size: int = Field(64, ge=1, le=65536, description="planets per local step")
    lr: float = Field(0.002, gt=0, le=1.0, description="local AdamW learning rate (a fresh optimiser each round)")
    weight_decay: float = Field(0.0001, ge=0, le=1.0, description="local AdamW weight decay")
    fusion: str | None = Field(None, description="run directory of a --mode full run with a finished phase 2 (the pipeline sets it)")
    observatories: list[ObservatoryConfig] = Field(default_factory=lambda: list(DEFAULT_OBSERVATORIES), min_length=2,
                                                   description="the federation's sites (K = their number)")
    init: Literal["fresh", "fusion"] = Field("fresh", description="fresh = the trunk starts from new weights (federated vs central is a fair race); "
                                             "fusion = from phase 2's trained weights (federated fine-tuning)")
    rounds: int = Field(20, ge=1, le=10000, description="federated rounds")
    local_epochs: int = Field(1, ge=1, le=100, description="epochs over its own shard an observatory trains per round")
    strategy: Strategy = Field("fedavg", description="server aggregation (flwr.serverapp.strategy)")
    proximal_mu: float = Field(0.01, ge=0, description="fedprox: weight of the proximal term μ/2 ‖w − w_global‖² the client adds")
    trim_beta: float = Field(0.2, ge=0, lt=0.5, description="fedtrimmedavg: share of updates cut at each end per coordinate")
    krum_malicious: int = Field(1, ge=0, description="krum: number of malicious observatories it tolerates")
    min_train_nodes: int = Field(2, ge=1, description="fewest replies a round needs (a round never waits for more nodes than this)")
    round_timeout_s: float = Field(600.0, gt=0, description="seconds a round waits for replies; a silent observatory is left out")
    dp_noise_multiplier: float | None = Field(None, ge=0, description="client-side DP (fixed clipping): Gaussian noise σ / clipping norm; null = off")
    dp_clipping_norm: float = Field(1.0, gt=0, description="client-side DP: L2 bound on each observatory's update")
    dp_delta: float = Field(1e-5, gt=0, lt=1, description="client-side DP: δ of the (ε, δ) budget each observatory reports (RDP accountant)")
    backend: Literal["ray", "inprocess"] = Field("ray", description="simulation engine: Flower's Ray backend (extra: federated), or in-process")
    client_cpus: float = Field(1.0, gt=0, description="ray: CPU cores one virtual observatory holds (Ray runs as many at once as fit)")
    client_gpus: float = Field(0.0, ge=0, description="ray: share of a GPU Ray reserves per virtual observatory (0.25: four per GPU); "
                               "the trunk itself trains on the CPU, so this only paces observatories sharing a GPU with other work")
    simulation_cpus: int | None = Field(None, ge=1, description="ray: cores the simulation may use in all; null = every core of this machine")
    simulation_gpus: int = Field(0, ge=0, description="ray: GPUs the simulation may use in all")
    failing_observatory: int | None = Field(None, ge=0, description="fault injection: this observatory raises in every training round")
    poisoned_observatory: int | None = Field(None, ge=0, description="fault injection: this observatory sends a poisoned update")
    poison_scale: float = Field(-10.0, description="poisoned update = poison_scale × its honest update (−10: sign-flipped and scaled)")

    @model_validator(mode="after")
    def _consistent(self):
        k = len(self.observatories)
        for key in ("failing_observatory", "poisoned_observatory"):
            value = getattr(self, key)
            if value is not None and value >= k:
                raise ValueError(f"{key}={value} but there are {k} observatories (0 to {k - 1})")
        if self.min_train_nodes > k:
            raise ValueError(f"min_train_nodes={self.min_train_nodes} exceeds the {k} observatories")
        if self.strategy == "krum" and k < 2 * self.krum_malicious + 3:
            raise ValueError(f"krum with krum_malicious={self.krum_malicious} needs at least {2 * self.krum_malicious + 3} observatories, got {k}")
        if self.simulation_cpus is not None and self.client_cpus > self.simulation_cpus:
            raise ValueError(f"client_cpus={self.client_cpus} exceeds simulation_cpus={self.simulation_cpus}: no observatory could start")
        if self.client_gpus > self.simulation_gpus:
            raise ValueError(f"client_gpus={self.client_gpus} exceeds simulation_gpus={self.simulation_gpus}: no observatory could start")
        names = [o.name for o in self.observatories]
        if len(set(names)) != len(names):
            raise ValueError(f"observatory names must differ: {names}")
        for o in self.observatories:
            lo, hi = o.host_star_teff_k
            if not lo < hi:
                raise ValueError(f"observatory {o.name}: host_star_teff_k must be [min, max) with min < max, got {[lo, hi]}")
        return self
