"""After the test: the reference models the surrogate is judged against, and its report plot.

Plot: surface-temperature maps of three test planets (coldest, median, hottest by mean
temperature), truth vs prediction vs error.

References, trained on the same split in the same run:

* train mean: predict the training-split mean map for every planet (computed in the module);
* a plain 3-layer MLP on the 8 normalised inputs → the full surface-temperature map, trained
  with Adam on per-pixel-standardised targets (the "about 1.1 K in under a minute" reference).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...data.leakage import controls
from ...fsutil import atomic_write_json
from ...plots import PLOTS_DIR, map_rows
from ...universe.sampling import PARAMETER_NAMES


@torch.inference_mode()
def plot_maps(module, datamodule, path) -> None:
    test = datamodule.datasets["test"].tensors
    truth = test["maps"][:, 0]
    order = torch.argsort(truth.mean(dim=1))
    picks = [int(order[0]), int(order[len(order) // 2]), int(order[-1])]
    module.eval()
    features = test["features"][picks].to(module.device)
    pred = module.model.decode_fields(module.model(features)["coeff_mean"], features)[:, 0].cpu()
    n_lat = datamodule.grid["shape"][0]
    rows = [(f"{which} test planet ({datamodule.indices['test'][i]})", truth[i].reshape(n_lat, -1).numpy(), pred[k].reshape(n_lat, -1).numpy())
            for k, (which, i) in enumerate(zip(("coldest", "median", "hottest"), picks))]
    map_rows(rows, path, "surface temperature", "K")


def report(cfg, module, datamodule, run_dir) -> dict:
    """The run's `baselines` (metrics.json): the climate-state classifier's controls, the plain-MLP
    reference unless disabled; and the maps plot."""
    import time

    plot_maps(module, datamodule, run_dir / PLOTS_DIR / "surface_temperature_maps.png")
    headline = state_controls(datamodule, run_dir, cfg.run.seed)
    epochs = cfg.components.surrogate.mlp_baseline_epochs
    if epochs == 0:
        return headline
    started = time.perf_counter()
    rmse = mlp_baseline_rmse(datamodule, epochs, cfg.run.seed)
    return {**headline, "mlp_surface_temperature_rmse_K": rmse, "mlp_wall_time_s": round(time.perf_counter() - started, 2)}


def state_controls(datamodule, run_dir, seed: int) -> dict:
    """Controls of the climate-state head (`data/leakage.py`) on the surrogate's 8 inputs → `controls.json`.
    The surrogate emulates CLERO from the true parameters (its state is a function of them): the
    controls say how much of that one parameter alone already gives."""
    train, test = datamodule.datasets["train"].tensors, datamodule.datasets["test"].tensors
    audit = {"climate_state": controls("classes", train["features"].numpy(), train["state"].numpy(), test["features"].numpy(),
                                       test["state"].numpy(), list(PARAMETER_NAMES), seed)}
    atomic_write_json(run_dir / "controls.json", audit)
    c = audit["climate_state"]
    return {"majority_state_accuracy": c["majority_baseline"]["accuracy"], "best_single_input_state_accuracy": c["best_single_input"]["accuracy"],
            "shuffled_reference_state_accuracy": c["shuffled_label_reference"]["accuracy"]}


def mlp_baseline_rmse(datamodule, epochs: int, seed: int, width: int = 256, lr: float = 1e-3, batch_size: int = 64) -> float:
    """Area-weighted surface-temperature RMSE (K) on the test split of a plain MLP; deterministic in `seed`."""
    generator = torch.Generator().manual_seed(seed)
    train, test = datamodule.datasets["train"].tensors, datamodule.datasets["test"].tensors
    mean_in, std_in = train["features"].mean(0), train["features"].std(0) + 1e-6
    y = train["maps"][:, 0]
    mean_out, std_out = y.mean(0), y.std(0) + 1e-6
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(8, width), nn.GELU(), nn.Linear(width, width), nn.GELU(), nn.Linear(width, y.shape[1]))
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    x = (train["features"] - mean_in) / std_in
    target = (y - mean_out) / std_out
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            loss = (net(x[idx]) - target[idx]).pow(2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        scheduler.step()
    with torch.no_grad():
        pred = net((test["features"] - mean_in) / std_in) * std_out + mean_out
    w = torch.from_numpy(np.asarray(datamodule.grid["area_weights"], dtype=np.float32))
    return float(((pred - test["maps"][:, 0]).pow(2) @ w).mean().sqrt())
