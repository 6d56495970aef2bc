"""Python access to a finished run, for notebooks and scripts.

    from astrotrain.api import load_run
    run = load_run("runs/20261129-101500-default")   # a --mode full run (or one component run)
    run.phases                                        # {phase: status, reason, folder}
    run.metrics("integrate")                          # fusion's metrics.json; run.metrics("pretrain", "spectral")
    (an unfinished run has no fusion model: fusion() says how to finish it)
    run.plots()                                       # every PNG the report shows
    model = run.fusion()                              # the trained fusion model, on CPU
    model.predict({"T_star": 3300, "F_star": 900, ...})  # a planet's catalog entry (+ any other observed modality)

Checkpoints are verified against their manifests and loaded weights-only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .training import run_dir as rd


@dataclass
class FinishedRun:
    path: Path

    @property
    def phases(self) -> dict:
        status = self.path / rd.PIPELINE_FILE
        return json.loads(status.read_text())["phases"] if status.is_file() else {}

    @property
    def report(self) -> Path:
        return self.path / rd.REPORT_FILE

    def component_dir(self, phase: str, component: str | None = None) -> Path:
        if not self.phases:
            return self.path
        from .training.pipeline import phase_run_dir

        return phase_run_dir(self.path, phase, component or "multimodal")

    def metrics(self, phase: str = "integrate", component: str | None = None) -> dict:
        path = self.component_dir(phase, component) / rd.METRICS_FILE
        if not path.is_file():
            raise UserError(f"{path} does not exist: that phase or component has not finished in run {self.path}")
        return json.loads(path.read_text())

    def universe(self):
        """The planet universe the run trained on (from its fusion run's provenance)."""
        from .universe.store import open_universe

        provenance = json.loads((self.component_dir("integrate") / rd.PROVENANCE_FILE).read_text())
        return open_universe(provenance["data"]["universe"]["path"])

    def plots(self) -> list[Path]:
        from .reporting.html import referenced_images

        return referenced_images(self.report) if self.report.is_file() else []

    def fusion_config(self):
        """The fusion run's config, its encoders pointed at this run's own phase 1 wherever the folder now lies."""
        from .config.loader import read_yaml, validate

        path = self.component_dir("integrate") / rd.CONFIG_FILE
        cfg = validate(read_yaml(path), source=str(path))
        if self.phases and self.phases["pretrain"]["status"] == "finished":
            cfg.components.multimodal.pretrained = str(self.path)
        return cfg

    def fusion(self) -> "FusionModel":
        from .training.checkpoint import load_verified

        run = self.component_dir("integrate")
        ckpt = run / "checkpoints" / "last.ckpt"
        metrics = run / rd.METRICS_FILE
        if not (metrics.is_file() and "test" in json.loads(metrics.read_text())):
            raise UserError(f"run {self.path} has no finished fusion phase ({run}); finish it with python train.py --resume {self.path}")
        from .components.multimodal.module import MultimodalModule
        from .components.multimodal.pretrained import pretrained_components

        cfg = self.fusion_config()
        encoders = {m: source.lend() for m, source in pretrained_components(cfg).items()}
        module = MultimodalModule(cfg.components.multimodal, encoders)
        module.load_state_dict(load_verified(ckpt)["state_dict"])
        return FusionModel(module.eval(), cfg)


@dataclass
class FusionModel:
    module: object
    cfg: object

    @property
    def modalities(self) -> list[str]:
        return self.module.model.modalities

    def predict(self, parameters: dict[str, float] | None = None, **modality_inputs) -> dict:
        """Climate-state probabilities, habitable fraction and P(biosphere) of one planet.

        `parameters`: its catalog entry (T_star [K], F_star [W m⁻²], radius [R⊕], gravity [m s⁻²],
        P_rot [d]) — the parameters modality never sees an atmosphere (`data/observation.py`), so
        P0, CO2 and CH4 are refused: the atmosphere enters as a spectrum or as retrieved gases.
        Other modalities are passed as their batch tensors (e.g. `**{"spectrum.depth": ...}`), as the
        data module builds them.
        """
        import numpy as np
        import pandas as pd
        import torch
        from clero.climate_analysis import CLIMATE_STATES

        from .data.observation import ATMOSPHERE_PARAMETERS, CATALOG_PARAMETERS, catalog_features, unknown_atmosphere

        batch = {k: torch.as_tensor(np.asarray(v, dtype=np.float32))[None] for k, v in modality_inputs.items()}
        shown = {k.split(".")[0] for k in batch}
        if parameters is not None:
            missing = [p for p in CATALOG_PARAMETERS if p not in parameters]
            atmosphere = [p for p in ATMOSPHERE_PARAMETERS if p in parameters]
            if missing or atmosphere:
                raise UserError((f"parameters lack {missing}; give all of {list(CATALOG_PARAMETERS)}" if missing else
                                 f"parameters give {atmosphere}, which no catalog measures and fusion never sees: drop them and pass "
                                 "the atmosphere as its spectrum (spectrum.*) or retrieved gases (gases.observed)"))
            row = pd.DataFrame([{**parameters, **dict.fromkeys(ATMOSPHERE_PARAMETERS, 0.0)}])
            batch["parameters.features"] = torch.from_numpy(catalog_features(row, {}, unknown_atmosphere(self.cfg.data.universe), seed=None))
            shown.add("parameters")
        unknown = shown - set(self.modalities)
        if unknown or not shown:
            raise UserError(f"give at least one of the fused modalities {self.modalities}" + (f"; unknown: {sorted(unknown)}" if unknown else ""))
        present = torch.tensor([[m in shown for m in self.modalities]])
        try:
            with torch.inference_mode():
                out = self.module.model(batch, present)
        except KeyError as exc:
            raise UserError(f"modality input {exc} is missing: give every input of a modality, named as the data module does "
                            "(e.g. spectrum.depth, spectrum.sigma, spectrum.context, spectrum.r_star)") from None
        probs = out["state_logits"].softmax(dim=-1)[0]
        return {
            "climate_state": CLIMATE_STATES[int(probs.argmax())],
            "state_probabilities": {name: float(p) for name, p in zip(CLIMATE_STATES, probs)},
            "habitable_fraction": float(out["habitable_fraction"][0]),
            "p_biosphere": float(torch.sigmoid(out["biosphere_logit"][0])),
            "modalities_used": [m for m in self.modalities if m in shown],
        }


def load_run(path: str | Path) -> FinishedRun:
    path = Path(path)
    if not (path / rd.CONFIG_FILE).is_file():
        raise UserError(f"{path} is not an astrotrain run directory (no {rd.CONFIG_FILE})")
    return FinishedRun(path)
