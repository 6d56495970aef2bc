#!/usr/bin/env python
"""Tombstone of the legacy `train_cube.py`: prints the equivalent `train.py` command and runs it (see MIGRATION.md)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout without installing

from astrotrain.legacy import forward  # noqa: E402

if __name__ == "__main__":
    sys.exit(forward("archive/train_cube.py", physics_constraints=False))
