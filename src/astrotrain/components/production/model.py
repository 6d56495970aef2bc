"""The models production ships, each a plain `nn.Module` from features `[B, 8]` to arrays, ready for ONNX.

* `SurfaceTemperatureModel` — the phase-1 surrogate transformer, read out as the surface-temperature
  map (its PCA decode included) and the climate-state logits.
* `FastSurrogate` — the distilled student (`distill.py`): an MLP onto the leading PCA modes of the
  teacher's surface-temperature basis, decoded by one affine layer (Gemm) whose weights are that
  basis. Knowledge distillation after Hinton, Vinyals & Dean (2015), "Distilling the knowledge in a
  neural network": the teacher labels as many planets from the universe's prior as we care to draw.
* `FusionFromParameters` — phase 2's fusion model, given the planet parameters alone (what an
  archive planet has): climate-state probabilities, habitable fraction, P(biosphere).

Input features are `data.features.parameter_features` (log10 of P_rot, P0, CO2, CH4).
"""

from __future__ import annotations

import torch
from torch import nn

from ..surrogate.model import SurrogateTransformer

TS = 0  # index of surface temperature among the surrogate's fields (surrogate.model.FIELDS)


class SurfaceTemperatureModel(nn.Module):
    def __init__(self, surrogate: SurrogateTransformer):
        super().__init__()
        self.surrogate = surrogate

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.surrogate.surface_temperature(features)


class FastSurrogate(nn.Module):
    """features → normalise → MLP (SiLU) → K PCA coefficients → affine decode → surface T `[B, n_pixels]` (K)."""

    def __init__(self, n_pixels: int, n_components: int, width: int = 128, depth: int = 3, n_params: int = 8):
        super().__init__()
        self.register_buffer("input_mean", torch.zeros(n_params))
        self.register_buffer("input_std", torch.ones(n_params))
        layers, width_in = [], n_params
        for _ in range(depth):
            layers += [nn.Linear(width_in, width), nn.SiLU()]
            width_in = width
        self.mlp = nn.Sequential(*layers, nn.Linear(width_in, n_components))
        self.decode = nn.Linear(n_components, n_pixels)  # weight = basis × scale, bias = mean map: fixed, not trained
        self.decode.requires_grad_(False)

    def set_basis(self, input_mean, input_std, mean_map, components, scale: float) -> None:
        """`components` `[K, n_pixels]` orthonormal rows; coefficients are in units of `scale` (the teacher's)."""
        self.input_mean.copy_(torch.as_tensor(input_mean))
        self.input_std.copy_(torch.as_tensor(input_std))
        self.decode.weight.copy_(torch.as_tensor(components).T * scale)
        self.decode.bias.copy_(torch.as_tensor(mean_map))

    def coefficients(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp((features - self.input_mean) / self.input_std)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.decode(self.coefficients(features))


class FusionFromParameters(nn.Module):
    def __init__(self, fusion, parameters_index: int):
        super().__init__()
        self.fusion = fusion  # components.multimodal.model.FusionTransformer
        self.parameters_index = parameters_index
        self.n_modalities = len(fusion.modalities)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        present = torch.zeros(features.shape[0], self.n_modalities, dtype=torch.bool, device=features.device)
        present[:, self.parameters_index] = True
        encode = [i == self.parameters_index for i in range(self.n_modalities)]
        out = self.fusion({"parameters.features": features}, present, encode=encode)
        return out["state_logits"].softmax(dim=-1), out["habitable_fraction"], torch.sigmoid(out["biosphere_logit"])


OUTPUTS = {  # ONNX input/output names of each shipped model
    "surrogate": (["features"], ["surface_temperature", "state_logits"]),
    "fast_surrogate": (["features"], ["surface_temperature"]),
    "fusion": (["features"], ["state_probabilities", "habitable_fraction", "p_biosphere"]),
}
