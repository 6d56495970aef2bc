"""astrotrain: a unified, reproducible training system for astrobiology machine learning.

Importing the package is cheap: nothing here imports torch, so `train.py --help` and
`--validate-only` answer in well under a second.
"""

__version__ = "0.1.0"
