"""The base model every config section derives from: unknown keys are errors, assignments are checked."""

from pydantic import BaseModel, ConfigDict, model_validator


class Section(BaseModel):
    """A config section. `extra="forbid"` makes a misspelt key an error (with a did-you-mean hint)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_default=True)


class AttentionShape(Section):
    """Mixin of a transformer component's settings: d_model must split evenly into n_heads."""

    @model_validator(mode="after")
    def _heads_divide_width(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be a multiple of n_heads={self.n_heads}")
        return self


_NO_EPOCHS = object()


def component_section(name: str, *, batch_size: int, lr: float, weight_decay: float, warmup_steps: int, min_lr_ratio: float,
                      unit: str, max_epochs=_NO_EPOCHS) -> type[Section]:
    """The base of a component's settings: the switch and optimisation keys every component has,
    declared once, with this component's defaults (`unit`: what one batch element is).
    Pass `max_epochs` to give the component its own epoch count (null = trainer.max_epochs)."""
    from pydantic import Field, create_model

    fields = {
        "enabled": (bool, Field(True, description="train this component in the full pipeline")),
        "batch_size": (int, Field(batch_size, ge=1, le=65536, description=f"{unit} per optimiser step")),
        "lr": (float, Field(lr, gt=0, le=1.0, description="peak AdamW learning rate")),
        "weight_decay": (float, Field(weight_decay, ge=0, le=1.0, description="AdamW weight decay")),
        "warmup_steps": (int, Field(warmup_steps, ge=0, description="linear warm-up, then cosine decay to lr * min_lr_ratio")),
        "min_lr_ratio": (float, Field(min_lr_ratio, ge=0, le=1, description="final learning rate as a share of lr")),
    }
    if max_epochs is not _NO_EPOCHS:
        fields["max_epochs"] = (int | None, Field(max_epochs, ge=1, description="epochs for this component (overrides trainer.max_epochs; null = that)"))
    return create_model(f"{name}Training", __base__=Section, **fields)
