"""Hyper-parameter search with Optuna (issue #10): `config.py` (hpo: section), `study.py` (checks,
storage, budget, resume rules), `optimize.py` (`--optimize` top to bottom, one trial), `report.py` (outputs)."""
