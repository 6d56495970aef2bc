"""The controls of a model's report: the leakage audit (DESIGN.md, "What models see").

A figure a referee accepts comes with what it is measured against. For a label and the inputs
a model sees (train and test rows, one column per scalar input):

* **majority baseline** — always answering the training split's most common class (for a
  fraction: its training mean), scored on the test split;
* **best single input** — for each input column alone, a depth-2 CART tree (scikit-learn) fit
  on the training split and scored on the test split; a label that one observed quantity
  decides shows up here (`single_input_scores` lists every column);
* **shuffled-label reference** — a gradient-boosted tree ensemble on all the columns, trained
  on the true and on permuted training labels: the permuted one must score at chance, or the
  inputs carry the test labels by some route other than the physics (an index, a split artefact).
  (Fusion also retrains itself on shuffled labels: `multimodal/report.py`.)

Binary labels are scored by ROC-AUC (chance 0.5) and accuracy, classes by accuracy (chance:
the majority share), fractions by the mean absolute error.
"""

from __future__ import annotations

import numpy as np

SINGLE_INPUT_DEPTH = 2
LEAKAGE_AUC = 0.95  # a single observed input above this ROC-AUC for a binary label decides it: a leak


def _scores(kind: str, truth: np.ndarray, predicted: np.ndarray, score: np.ndarray | None) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, roc_auc_score

    if kind == "fraction":
        return {"mae": float(mean_absolute_error(truth, predicted))}
    out = {"accuracy": float(np.mean(predicted == truth))}
    if kind == "binary":
        out["roc_auc"] = float(roc_auc_score(truth, score)) if len(np.unique(truth)) == 2 else float("nan")
    return out


def _tree(kind: str, seed: int):
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    cls = DecisionTreeRegressor if kind == "fraction" else DecisionTreeClassifier
    return cls(max_depth=SINGLE_INPUT_DEPTH, random_state=seed)


def _fit_score(model, kind: str, x_train, y_train, x_test, y_test) -> dict[str, float]:
    model.fit(x_train, y_train)
    predicted = model.predict(x_test)
    score = model.predict_proba(x_test)[:, -1] if kind == "binary" else None
    return _scores(kind, y_test, predicted, score)


def majority_baseline(kind: str, y_train: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    if kind == "fraction":
        return _scores(kind, y_test, np.full(len(y_test), float(np.mean(y_train))), None)
    values, counts = np.unique(y_train, return_counts=True)
    majority = values[counts.argmax()]
    return {**_scores(kind, y_test, np.full(len(y_test), majority), np.full(len(y_test), 0.5) if kind == "binary" else None),
            "class": majority.item()}


def controls(kind: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
             names: list[str], seed: int = 0, shuffled_reference: bool = True) -> dict:
    """Majority baseline, every single input's depth-2 tree, the best of them, and the shuffled-label
    reference, for a label of `kind` "binary" | "classes" | "fraction"."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    x_train, x_test = np.asarray(x_train, dtype=np.float64), np.asarray(x_test, dtype=np.float64)
    single = {name: _fit_score(_tree(kind, seed), kind, x_train[:, [j]], y_train, x_test[:, [j]], y_test) for j, name in enumerate(names)}
    key, better = ("mae", min) if kind == "fraction" else (("roc_auc" if kind == "binary" else "accuracy"), max)
    best = better(single, key=lambda n: single[n][key] if np.isfinite(single[n][key]) else (np.inf if better is min else -np.inf))
    out = {"kind": kind, "train_planets": int(len(y_train)), "test_planets": int(len(y_test)), "metric": key,
           "majority_baseline": majority_baseline(kind, y_train, y_test), "best_single_input": {"input": best, **single[best]},
           "single_input_scores": single}
    if shuffled_reference:
        booster = HistGradientBoostingRegressor if kind == "fraction" else HistGradientBoostingClassifier
        permuted = np.random.default_rng([seed, 0x5F1]).permutation(y_train)
        out["all_inputs_reference"] = _fit_score(booster(random_state=seed), kind, x_train, y_train, x_test, y_test)
        out["shuffled_label_reference"] = _fit_score(booster(random_state=seed), kind, x_train, permuted, x_test, y_test)
    return out


def best_single_by_group(audit: dict, groups: dict[str, list[str]]) -> dict[str, dict]:
    """The best single input within each group of columns (e.g. per fused modality)."""
    key, scores = audit["metric"], audit["single_input_scores"]
    better = min if key == "mae" else max
    out = {}
    for group, names in groups.items():
        finite = [n for n in names if np.isfinite(scores[n][key])]
        if finite:
            best = better(finite, key=lambda n: scores[n][key])
            out[group] = {"input": best, **scores[best]}
    return out
