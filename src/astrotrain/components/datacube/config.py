"""Settings of the datacube component (`components.datacube` in the master config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ...config.base import component_section

SurfaceField = Literal["surface_temperature", "asr", "olr"]
LevelField = Literal["temperature", "specific_humidity", "cloud_fraction", "u", "v"]


class DatacubeConfig(
    component_section("Datacube", unit="planets", max_epochs=10, batch_size=8, lr=0.003, weight_decay=0.0001, warmup_steps=20, min_lr_ratio=0.05)
):
    input_fields: list[SurfaceField] = Field(["surface_temperature", "asr", "olr"], min_length=1, description="2D input maps")
    target_fields: list[LevelField] = Field(
        ["temperature", "specific_humidity", "cloud_fraction", "u", "v"], min_length=1, description="3D fields to reconstruct"
    )
    levels: list[int] | None = Field(None, description="model levels to use, 0 = lowest (universe: 0 … 9 = 10 mbar); null = all")
    datacubes: list[str] = Field([], description="ingested datacube folders (astrotrain data ingest --out); empty = the universe")
    level_pressure_units: str = Field("hPa", description="units of an ingested cube's level coordinate where the file gives none")
    max_planets: int = Field(1200, ge=0, description="planets of the universe used (its first N; 0 = all)")
    width: int = Field(8, ge=2, le=512, description="channels of the first U-Net stage (doubling per stage)")
    depth: int = Field(2, ge=1, le=5, description="U-Net stages (each halves lat and lon)")
    rh_weight: float = Field(0.1, ge=0, description="relative-humidity penalty weight (with physics.constraints)")
    rh_tolerance: float = Field(0.05, ge=0, description="RH allowed above 1 before the penalty acts (and never below the data's own RH)")
    stability_weight: float = Field(0.01, ge=0, description="static-stability penalty weight, per K² (with physics.constraints)")
    stability_tolerance_k: float = Field(1.0, ge=0, description="θ may drop this much with height before the penalty acts")

    @model_validator(mode="after")
    def _check(self):
        if self.levels is not None and (not self.levels or min(self.levels) < 0 or sorted(set(self.levels)) != self.levels):
            raise ValueError(f"levels must be increasing, distinct and >= 0, got {self.levels}")
        return self

    @field_validator("level_pressure_units")
    @classmethod
    def _pressure_units(cls, units: str) -> str:
        from ...units import unit_registry

        try:
            ok = unit_registry().Unit(units).dimensionality == unit_registry().Unit("Pa").dimensionality
        except Exception:
            ok = False
        if not ok:
            raise ValueError(f"{units!r} is not a pressure unit pint understands (e.g. hPa, Pa, mbar, bar)")
        return units
