"""Settings of hyper-parameter search (`hpo:` in the master config): what to search, for which metric, how."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Section


class Distribution(Section):
    """One searched key: a float or int range (optionally log-uniform, or on a step), or a list of choices."""

    type: Literal["float", "int", "categorical"] = Field(description="float | int | categorical")
    low: float | None = Field(None, description="lower bound (float, int)")
    high: float | None = Field(None, description="upper bound, inclusive (float, int)")
    log: bool = Field(False, description="sample log-uniformly (needs low > 0)")
    step: float | None = Field(None, gt=0, description="grid step (float, int; not with log)")
    choices: list[str | int | float | bool] | None = Field(None, description="the values (categorical)")

    @model_validator(mode="after")
    def _consistent(self):
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("categorical needs a non-empty choices list")
            if self.low is not None or self.high is not None:
                raise ValueError("categorical takes choices, not low/high")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"{self.type} needs low and high")
        if not self.low < self.high:
            raise ValueError(f"low={self.low} must be below high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"log=true needs low > 0, got low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("log and step exclude each other")
        if self.choices is not None:
            raise ValueError(f"{self.type} takes low/high, not choices")
        if self.type == "int" and any(v is not None and v != int(v) for v in (self.low, self.high, self.step)):
            raise ValueError(f"int needs whole low, high and step, got low={self.low}, high={self.high}, step={self.step}")
        return self


def _space(**keys: dict) -> dict[str, Distribution]:
    return {k: Distribution(**v) for k, v in keys.items()}


DEFAULT_SEARCH_SPACES = {  # per component: key (relative to components.<name>, or a dotted config path) → distribution
    "surrogate": _space(lr={"type": "float", "low": 3e-4, "high": 6e-3, "log": True},
                        weight_decay={"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
                        d_model={"type": "categorical", "choices": [32, 64, 96]},
                        n_layers={"type": "int", "low": 1, "high": 3},
                        warmup_steps={"type": "int", "low": 0, "high": 400, "step": 100}),
    "spectral": _space(lr={"type": "float", "low": 5e-4, "high": 5e-3, "log": True}, width={"type": "categorical", "choices": [16, 32, 48]}),
    "evolution": _space(lr={"type": "float", "low": 3e-4, "high": 1e-2, "log": True}, d_model={"type": "categorical", "choices": [16, 32]}),
    "multimodal": _space(lr={"type": "float", "low": 2e-4, "high": 3e-3, "log": True}, modality_dropout={"type": "float", "low": 0.0, "high": 0.5}),
}


class HPOConfig(Section):
    trials: int = Field(20, ge=1, le=100000, description="trials the study completes in all (COMPLETE + PRUNED), across restarts and workers")
    metric: str | None = Field(None, description="validation metric to optimise (a key of metrics.json's val); null = the component's own")
    direction: Literal["minimize", "maximize"] | None = Field(None, description="null = the component's own")
    sampler: Literal["tpe", "random"] = Field("tpe", description="Optuna sampler (seeded with hpo.seed)")
    seed: int | None = Field(None, description="sampler seed; null = run.seed")
    pruner: Literal["median", "none"] = Field("median", description="median: stop a trial whose validation metric is below the median of earlier trials at the same epoch")
    pruner_startup_trials: int = Field(3, ge=0, description="trials that are never pruned (the median needs some)")
    pruner_warmup_epochs: int = Field(1, ge=0, description="epochs of every trial that are never pruned")
    max_epochs: int | None = Field(None, ge=1, description="epochs per trial (null = the component's own)")
    val_every_n_epochs: int = Field(1, ge=1, description="a trial validates every n epochs: what the pruner sees (the runs' own cadence is often sparser)")
    storage: str | None = Field(None, description="Optuna storage URL (sqlite:///…, postgresql://…); null = study.db in the study folder")
    study_name: str | None = Field(None, description="null = astrotrain-<component>")
    heartbeat_interval_s: int = Field(10, ge=1, description="a running trial's heartbeat; one silent for grace_period_s was killed")
    grace_period_s: int = Field(30, ge=2, description="seconds without heartbeat after which a trial counts as killed: marked FAIL and re-run")
    max_retries: int = Field(2, ge=0, description="re-runs of a killed trial with the same parameters")
    search_space: dict[str, dict[str, Distribution]] = Field(default_factory=lambda: dict(DEFAULT_SEARCH_SPACES),
                                                            description="per component: key → distribution")

    @model_validator(mode="after")
    def _grace_after_heartbeat(self):
        if self.grace_period_s <= self.heartbeat_interval_s:
            raise ValueError(f"grace_period_s={self.grace_period_s} must exceed heartbeat_interval_s={self.heartbeat_interval_s}")
        return self
