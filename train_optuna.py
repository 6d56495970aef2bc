"""Hyper-parameter search: `python train_optuna.py --component surrogate --trials 20` = `python train.py --component surrogate --optimize --trials 20`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))  # run from a checkout without installing

from astrotrain.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["train", "--optimize", *sys.argv[1:]]))
