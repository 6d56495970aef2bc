#!/usr/bin/env python
"""astrotrain's single entry point: `python train.py --help` (same CLI as the `astrotrain` command)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))  # run from a checkout without installing

from astrotrain.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
