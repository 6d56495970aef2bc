"""Hyper-parameter search with Optuna: `config/hpo.py` (hpo: section), `study.py` (checks,
storage, budget, resume rules), `optimize.py` (`--optimize` top to bottom, one trial), `report.py` (outputs)."""
