"""On-disk layout of a universe, and reading it back.

```
<cache_dir>/<key>/
  parameters.parquet   # one row per planet: the 8 CLERO inputs + labels
  climate.zarr/        # zarr v3, chunked by planet: surface_temperature, asr, olr (planet, lat, lon)
                       # and temperature, specific_humidity, cloud_fraction, u, v (planet, level, lat, lon)
  atmosphere.parquet   # one row per planet: scenario, biosphere flag, volume mixing ratios x_<gas>, μ,
                       # terminator temperature and cloud-deck pressure (biosphere.py, terminator.py)
  evolution.zarr/      # carbonate-silicate trajectories (planet, time) + box-model drivers (planet,) (evolution.py)
  manifest.json        # seed, N, sampling ranges, clero version + weights sha256, sha256 of the data
```

The zarr store follows xarray's conventions (`dimension_names`, `units` attributes), so
`xarray.open_zarr(path / "climate.zarr")` opens it lazily.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import UserError

SURFACE_FIELDS = ("surface_temperature", "asr", "olr")
LEVEL_FIELDS = ("temperature", "specific_humidity", "cloud_fraction", "u", "v")
N_LEVELS = 10
FIELD_UNITS = {
    "surface_temperature": "K",
    "asr": "W m-2",
    "olr": "W m-2",
    "temperature": "K",
    "specific_humidity": "kg kg-1",
    "cloud_fraction": "1",
    "u": "m s-1",
    "v": "m s-1",
}
PARAMETERS_FILE = "parameters.parquet"
CLIMATE_STORE = "climate.zarr"
MANIFEST_FILE = "manifest.json"
ATMOSPHERE_FILE = "atmosphere.parquet"
EVOLUTION_STORE = "evolution.zarr"


@dataclass(frozen=True)
class Universe:
    """A generated universe on disk. Arrays are read lazily, field by field."""

    path: Path

    @cached_property
    def manifest(self) -> dict:
        return json.loads((self.path / MANIFEST_FILE).read_text())

    @cached_property
    def parameters(self):
        """pandas DataFrame, one row per planet."""
        import pandas as pd

        return pd.read_parquet(self.path / PARAMETERS_FILE)

    @cached_property
    def atmosphere(self):
        """pandas DataFrame, one row per planet: biosphere, gas inventory, terminator state."""
        import pandas as pd

        return pd.read_parquet(self.path / ATMOSPHERE_FILE)

    def evolution(self) -> dict[str, np.ndarray]:
        """Evolution trajectories `[planet, time]`, drivers `[planet]`, `ok` and `time` (Gyr)."""
        import zarr

        group = zarr.open_group(self.path / EVOLUTION_STORE, mode="r")
        return {name: np.asarray(array[...]) for name, array in group.arrays()}

    def __len__(self) -> int:
        return int(self.manifest["n_planets"])

    def field(self, name: str, planets: np.ndarray | slice | None = None) -> np.ndarray:
        """One field as float32: `(planet, lat, lon)` or `(planet, level, lat, lon)`."""
        import zarr

        if name not in FIELD_UNITS:
            raise UserError(f"unknown field {name!r} in universe {self.path}; known: {sorted(FIELD_UNITS)}")
        group = zarr.open_group(self.path / CLIMATE_STORE, mode="r")
        array = group[name]
        if planets is None:
            return np.asarray(array[...])
        if isinstance(planets, slice):
            return np.asarray(array[planets])
        return np.asarray(array.get_orthogonal_selection((np.asarray(planets),)))


def open_universe(path: str | Path) -> Universe:
    """Open a universe directory, checking that it is complete."""
    path = Path(path)
    missing = [name for name in (PARAMETERS_FILE, CLIMATE_STORE, ATMOSPHERE_FILE, EVOLUTION_STORE, MANIFEST_FILE) if not (path / name).exists()]
    if missing:
        raise UserError(f"universe at {path} is incomplete (missing {missing}); delete it and run `astrotrain data generate`")
    return Universe(path)
