"""Settings of the fusion component (`components.multimodal` in the master config)."""

from __future__ import annotations

from pydantic import Field, model_validator

from ...config.base import AttentionShape, component_section


def observed_modalities() -> list[str]:
    """Every modality an instrument or a retrieval gives (the lending components' specs say which)."""
    from ...config.registry import fusion_modalities

    return [m for m, spec in fusion_modalities().items() if spec.lends.observed]


class MultimodalConfig(
    AttentionShape,
    component_section("Multimodal", unit="planets", max_epochs=20, batch_size=64, lr=0.001, weight_decay=0.0001, warmup_steps=100, min_lr_ratio=0.05)
):
    pretrained: str | None = Field(None, description="run directory of a `--mode full` run whose phase 1 lends the encoders (the pipeline sets it)")
    modalities: list[str] = Field(default_factory=observed_modalities, min_length=1, description="modalities fused (each needs its component's "
                                  "pretrained run); the default is every observed one: parameters, spectrum, gases")
    oracle_modalities: bool = Field(False, description="allow modalities no observer has (climate, evolution): an oracle upper bound, never a "
                                                       "science figure (the report marks such a run)")
    shuffled_label_control: bool = Field(True, description="after the test: train the same fusion again on shuffled training labels (it must score at chance)")
    shuffled_label_permutations: int = Field(3, ge=1, le=100, description="independent label permutations of that control, "
                                             "reported as mean ± sd across them")
    freeze_epochs: int = Field(12, ge=0, description="epochs with the lent encoders frozen; afterwards they train at lr × encoder_lr_ratio")
    encoder_lr_ratio: float = Field(0.1, ge=0, le=1, description="learning rate of the unfrozen encoders, as a share of lr")
    d_model: int = Field(64, ge=8, le=4096, description="token width of the fusion transformer")
    n_heads: int = Field(4, ge=1, le=64, description="attention heads")
    n_layers: int = Field(2, ge=1, le=48, description="transformer layers")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout in the fusion transformer")
    modality_dropout: float = Field(0.3, ge=0, lt=1, description="chance that a modality is hidden from a training planet (one always stays)")
    align_weight: float = Field(0.1, ge=0, description="weight of the cross-modal contrastive alignment loss")
    align_temperature: float = Field(0.1, gt=0, le=10, description="temperature of the InfoNCE logits")
    habitable_weight: float = Field(5.0, ge=0, description="habitable-fraction loss weight (smooth L1)")
    biosphere_weight: float = Field(1.0, ge=0, description="biosphere cross-entropy weight")
    ablation: bool = Field(True, description="after the test: metrics with each modality removed, and each alone")

    @model_validator(mode="after")
    def _distinct_modalities(self):
        from ...config.registry import fusion_modalities

        lent = fusion_modalities()
        unknown = [m for m in self.modalities if m not in lent]
        if unknown:
            raise ValueError(f"modalities {unknown} are not lent by any component; known: {list(lent)}")
        if len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"modalities lists a modality twice: {self.modalities}")
        oracle = [m for m in self.modalities if not lent[m].lends.observed]
        if oracle and not self.oracle_modalities:
            why = "; ".join(f"{m}: {lent[m].lends.unobservable_because}" for m in oracle)
            raise ValueError(f"modalities {oracle} are not observable ({why}); drop them, or set components.multimodal.oracle_modalities=true "
                             "for an oracle upper bound that is no science figure")
        if self.freeze_epochs and self.max_epochs is not None and self.freeze_epochs > self.max_epochs:
            raise ValueError(f"freeze_epochs={self.freeze_epochs} exceeds max_epochs={self.max_epochs}")
        return self
