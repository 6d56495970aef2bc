"""The surrogate component: a transformer emulating CLERO (planet parameters → climate maps + labels).

Importing this package is cheap; torch is imported by `model.py`, `module.py` and `data.py` only.
"""
