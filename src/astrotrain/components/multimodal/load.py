"""The trained fusion model of a run, rebuilt from its checkpoint and the encoders its phase 1 lent.

    fusion = load_fusion(open_run(path))             # a run with a finished fusion phase
    fusion.predict({"T_star": 3300, "F_star": 900, ...})  # a planet's catalog entry (+ any other observed modality)

Checkpoints are verified against their manifests and loaded weights-only.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...data.observation import ATMOSPHERE_PARAMETERS, CATALOG_PARAMETERS, catalog_features, unknown_atmosphere
from ...errors import UserError
from ...runs.checkpoints import load_verified
from .module import MultimodalModule
from .pretrained import pretrained_components


def load_fusion(run) -> "FusionModel":
    """The fusion model of `run` (a `runs.run.RunDirectory`), on CPU, in evaluation mode."""
    folder = run.component_dir("integrate")
    if not run.finished("integrate"):
        raise UserError(f"run {run.path} has no finished fusion phase ({folder}); finish it with python train.py --resume {run.path}")
    cfg = run.fusion_config()
    encoders = {m: source.lend() for m, source in pretrained_components(cfg).items()}
    module = MultimodalModule(cfg.components.multimodal, encoders)
    module.load_state_dict(load_verified(folder / "checkpoints" / "last.ckpt")["state_dict"])
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
