"""What a study leaves in its folder: the best config, the trials table, plots, study.json, report.html.

    best_config.yaml     the full config with the best trial's values: python train.py --config best_config.yaml
    best_overrides.txt   the best values as key=value overrides: python train.py --component X $(cat best_overrides.txt)
    trials.csv           every trial: number, state, value, parameters, duration, run directory
    plots/               optimisation history, parameter importances (Optuna's matplotlib plots)
    study.json           metric, direction, counts by state, best trial, the default config's trial
"""

from __future__ import annotations

import json
from pathlib import Path

from ..config.loader import set_path
from ..fsutil import atomic_write_json, atomic_write_text
from ..plots import PLOTS_DIR
from ..report.html import write_report
from ..runs import layout as rd
from .study import shown_url


def write_outputs(study, cfg, setup) -> dict:
    from optuna.trial import TrialState

    folder = Path(setup.folder)

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    surplus = [t for t in trials if t.user_attrs.get("surplus")]  # asked for, never run: the budget was full (several workers)
    states = {s.name: sum(t.state == s and not t.user_attrs.get("surplus") for t in trials) for s in TrialState}
    summary = {"study_name": setup.study_name, "component": setup.component, "metric": f"val/{setup.metric}", "direction": setup.direction,
               "storage": shown_url(setup.storage_url), "trials_budget": setup.trials, "trials_by_state": states, "surplus_trials_not_run": len(surplus)}
    default = next((t for t in complete if t.user_attrs.get("default_config")), None)
    if default is not None:
        summary["default_config_trial"] = {"number": default.number, "value": default.value}
    if complete:
        best = study.best_trial
        summary["best_trial"] = {"number": best.number, "value": best.value, "params": best.params, "run_dir": best.user_attrs.get("run_dir")}
        if default is not None and default.value:
            summary["best_vs_default"] = {"value_change": best.value - default.value, "relative_change": (best.value - default.value) / abs(default.value)}
        tree = cfg.model_dump(mode="json")
        for key, value in best.params.items():
            set_path(tree, key.split("."), value)
        atomic_write_text(folder / "best_config.yaml", f"# best trial {best.number} of study {setup.study_name}: val/{setup.metric} = {best.value:.6g}\n"
                          f"# python train.py --config {folder / 'best_config.yaml'}\n" + rd.dump_yaml(tree))
        atomic_write_text(folder / "best_overrides.txt", "".join(f"{k}={json.dumps(v)}\n" for k, v in best.params.items()))
    frame = study.trials_dataframe(attrs=("number", "state", "value", "params", "duration", "user_attrs"))
    if "user_attrs_surplus" in frame:
        frame = frame[frame["user_attrs_surplus"] != True].drop(columns="user_attrs_surplus")  # noqa: E712 - NaN for the others
    atomic_write_text(folder / "trials.csv", frame.to_csv(index=False))
    summary["plots"] = [p.name for p in plot_study(study, folder / PLOTS_DIR)]
    atomic_write_json(folder / "study.json", summary)

    write_report(folder)
    return summary


def plot_study(study, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, plot in (("optimization_history", ovm.plot_optimization_history), ("param_importances", ovm.plot_param_importances)):
        try:
            ax = plot(study)
        except (ValueError, RuntimeError):  # importances need two finished trials whose parameters differ
            continue
        figure = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        figure.set_size_inches(7, 4.2)
        figure.tight_layout()
        figure.savefig(out / f"{name}.png", dpi=110)
        plt.close(figure)
        paths.append(out / f"{name}.png")
    return paths
