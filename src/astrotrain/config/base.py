"""The base model every config section derives from: unknown keys are errors, assignments are checked."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section. `extra="forbid"` makes a misspelt key an error (with a did-you-mean hint)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_default=True)
