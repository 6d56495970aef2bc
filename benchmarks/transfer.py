"""10. Transfer: the surrogate pretrained on the CLERO universe, fine-tuned on a few runs of another climate model.

The "other climate model" is CLERO's fields under a documented systematic change, because a real second
GCM cannot run here at this scale: ExoPlaSim 3.4.2 (PlaSim) builds with apt's gfortran (275 s) and runs,
but one model year at T21 with 10 layers took 445 s of one core (measured on this 2-core machine, under
load), and a planet needs a decade or more of spin-up to equilibrate: ~200 runs would take about a week.
The change is two differences real GCMs show for the same planet (Yang et al. 2019, ApJ 875, 46: a model
intercomparison of exactly these planets):

- **heat transport**: a more efficient atmosphere/ocean — surface temperature contrasts to the global
  mean shrink by η = 0.3 (a diffusive energy-balance model's contrast falls as 1/(1 + D/B) as its
  diffusivity D grows: North 1975, J. Atmos. Sci. 32, 2033);
- **clouds and water vapour**: a greenhouse 3 K warmer at the same absorbed sunlight (the same ASR map);
  OLR follows the new temperatures as a grey body (∝ T⁴) and is rescaled so the planet's global energy
  (im)balance is CLERO's: the model is warmer for a lower effective emissivity, not for more energy.

Planets of another universe seed (none was pretrained on). Each run is one time-mean datacube written
by the ingestion writer (`write_datacube`: manifest, sha256, parameters) from its own NetCDF file.
Pretrained: `train.py --component surrogate` on the default universe. Fine-tuned: `--init-from` the
pretrained run on the first N runs (the same split fractions 0.8/0.1/0.1 by run), every weight loaded,
the parent's input normalisation and PCA basis adopted, `init.lr_multiplier=0.5`; from scratch: the same
runs, the same steps and schedule, n_components ≤ the training runs − 2 (a PCA basis cannot have more
modes than samples). Both take the same number of optimiser steps (batch 16) whatever N. Scored on the
same 100 held-out runs of the other model: area-weighted surface-temperature RMSE, as the surrogate's
own metric. Controls: the pretrained model with no fine-tuning (zero-shot), and the change itself (the
RMSE between CLERO's and the other model's maps of the held-out planets).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from clero.climate_analysis import latitude_centers, longitude_centers

from astrotrain.components.surrogate.module import SurrogateModule
from astrotrain.config.loader import read_yaml, validate
from astrotrain.data.features import parameter_features
from astrotrain.data.gcm_write import cell_area_weights, write_datacube
from astrotrain.runs.checkpoints import load_verified
from astrotrain.universe.generate import ensure_universe
from astrotrain.universe.sampling import PARAMETER_NAMES

from . import harness
from .harness import ROOT, Context, Section, config, intro, table

HEAT_TRANSPORT_ETA = 0.3  # share of each cell's surface-temperature contrast to the global mean removed
WARM_BIAS_K = 3.0  # global-mean warming at the same absorbed sunlight
OTHER_UNIVERSE_SEED = 20261206
SIZES = {False: {"runs": (10, 30, 100), "held_out": 100, "steps": 300, "pretrain_epochs": 100},
         True: {"runs": (10,), "held_out": 10, "steps": 6, "pretrain_epochs": 1}}
LONGER = 10  # the scratch arm again with this many times the steps: how far training longer takes it
SPLIT = ["data.split.train=0.8", "data.split.val=0.1", "data.split.test=0.1"]
BATCH = 16


def other_model(ts: np.ndarray, asr: np.ndarray, olr: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CLERO's (Ts, ASR, OLR) maps `[N, lat, lon]` → the other model's: stronger heat transport, a warmer greenhouse,
    OLR as a grey body of the new temperatures with each planet's global energy (im)balance kept."""
    mean_ts = (ts * weights).sum(axis=(1, 2), keepdims=True)
    warmer = mean_ts + (1.0 - HEAT_TRANSPORT_ETA) * (ts - mean_ts) + WARM_BIAS_K
    grey = olr * (warmer / ts) ** 4
    grey *= (olr * weights).sum(axis=(1, 2), keepdims=True) / (grey * weights).sum(axis=(1, 2), keepdims=True)
    return warmer, asr, grey


def write_runs(ctx: Context, n: int) -> dict:
    """`n` planets of another universe seed as runs of the other model: datacubes, and their truth for scoring."""
    cfg = config(f"data.universe.seed={OTHER_UNIVERSE_SEED}", f"data.universe.n_planets={max(n, 16)}", cache_dir=ctx.workdir / "other-universe")
    universe = ensure_universe(cfg.data.universe, progress=False)
    clero = [universe.field(f, slice(0, n)).astype(np.float64) for f in ("surface_temperature", "asr", "olr")]
    lat, lon = latitude_centers(clero[0].shape[1]), longitude_centers(clero[0].shape[2])
    weights = cell_area_weights(lat, len(lon))
    ts, asr, olr = other_model(*clero, weights)
    table_ = universe.parameters.iloc[:n]
    cubes = []
    for i in range(n):
        folder = ctx.workdir / "other-model" / f"run{i:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        ds = xr.Dataset({"surface_temperature": (("lat", "lon"), ts[i]), "asr": (("lat", "lon"), asr[i]), "olr": (("lat", "lon"), olr[i])},
                        coords={"lat": lat, "lon": lon})
        ds.to_netcdf(folder / "output.nc")  # the model's own output file, hashed into the datacube's manifest
        parameters = {name: float(table_[name].iloc[i]) for name in PARAMETER_NAMES}
        cubes.append(str(write_datacube(ds, folder / "cube", planet_id=i, source=folder / "output.nc", parameters=parameters)))
    return {"cubes": cubes, "features": parameter_features(table_), "ts": ts, "clero_ts": clero[0], "weights": weights}


def train(ctx: Context, name: str, *overrides: str) -> Path:
    out = ctx.workdir / "runs" / name
    args = [sys.executable, "train.py", "--component", "surrogate", "trainer.accelerator=cpu", *harness.BASE_OVERRIDES, f"run.output_dir={out}",
            f"run.name={name}", "trainer.enable_progress_bar=false", "components.surrogate.mlp_baseline_epochs=0", *overrides]
    res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"surrogate run {name} failed:\n{res.stderr[-3000:]}")
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def fine_tuning_overrides(cubes: list[str], steps: int) -> list[str]:
    """The same optimiser steps whatever the number of runs: epochs × steps per epoch (batch 16, drop_last)."""
    n_train = round(0.8 * len(cubes))
    per_epoch = max(1, n_train // BATCH) if n_train > BATCH else 1
    return [f"components.surrogate.datacubes={json.dumps(cubes)}", *SPLIT, f"components.surrogate.batch_size={BATCH}",
            f"trainer.max_epochs={math.ceil(steps / per_epoch)}", "components.surrogate.warmup_steps=20"]


def held_out_rmse(run: Path, data: dict) -> float:
    """Area-weighted surface-temperature RMSE of `run`'s last checkpoint on the held-out runs (the surrogate's own metric)."""
    cfg = validate(read_yaml(run / "config.yaml"), source=str(run / "config.yaml"))
    sc = cfg.components.surrogate
    n_pixels, fields = data["ts"][0].size, 3
    dummy = {"input_mean": np.zeros(8), "input_std": np.ones(8), "pca_mean": np.zeros((fields, n_pixels)),
             "pca_components": np.zeros((fields, sc.n_components, n_pixels)), "pca_scale": np.ones(fields)}
    module = SurrogateModule(sc, dummy, False, {"area_weights": data["weights"].reshape(-1), "nightside": np.zeros(n_pixels, dtype=bool)})
    module.load_state_dict(load_verified(run / "checkpoints" / "last.ckpt")["state_dict"])
    module.eval()
    features = torch.from_numpy(data["features"])
    with torch.inference_mode():
        maps = module.predict_maps(module(features), features)[:, 0].double().numpy()
    return rmse(maps, data["ts"].reshape(len(maps), -1), data["weights"].reshape(-1))


def rmse(predicted: np.ndarray, truth: np.ndarray, weights: np.ndarray) -> float:
    return float(np.sqrt(np.mean(((predicted - truth) ** 2) @ weights)))


def run(ctx: Context) -> Section:
    sizes = SIZES[ctx.quick]
    largest = max(sizes["runs"])
    everything = write_runs(ctx, largest + sizes["held_out"])
    pool = everything["cubes"][:largest]
    held = {k: (v[largest:] if k != "weights" else v) for k, v in everything.items() if k != "cubes"}
    parent = train(ctx, "pretrained", f"trainer.max_epochs={sizes['pretrain_epochs']}")
    rows, results = [], {"held_out_runs": sizes["held_out"], "steps": sizes["steps"]}
    change = rmse(held["clero_ts"].reshape(len(held["ts"]), -1), held["ts"].reshape(len(held["ts"]), -1), held["weights"].reshape(-1))
    zero_shot = held_out_rmse(parent, held)
    results.update(systematic_change_rmse_K=change, zero_shot_rmse_K=zero_shot)
    for n in sizes["runs"]:
        cubes = pool[:n]
        tuned = train(ctx, f"fine-tuned-{n}", "--init-from", str(parent), "init.lr_multiplier=0.5", *fine_tuning_overrides(cubes, sizes["steps"]))
        modes = max(1, min(48, round(0.8 * n) - 2))
        scratch = train(ctx, f"scratch-{n}", f"components.surrogate.n_components={modes}", *fine_tuning_overrides(cubes, sizes["steps"]))
        longer = fine_tuning_overrides(cubes, LONGER * sizes["steps"])
        epochs = int(next(o for o in longer if o.startswith("trainer.max_epochs=")).split("=")[1])
        long_scratch = train(ctx, f"scratch-long-{n}", f"components.surrogate.n_components={modes}", *longer,
                             f"trainer.check_val_every_n_epoch={max(1, epochs // 20)}")
        fine, fresh, long_fresh = (held_out_rmse(run_, held) for run_ in (tuned, scratch, long_scratch))
        results[str(n)] = {"fine_tuned_rmse_K": fine, "scratch_rmse_K": fresh, "scratch_longer_rmse_K": long_fresh, "scratch_n_components": modes,
                           "lineage": json.loads((tuned / "provenance.json").read_text())["lineage"]["kind"]}
        rows.append([n, f"{fine:.2f} K", f"{fresh:.2f} K ({modes} modes)", f"{long_fresh:.2f} K", f"{fresh / fine:.1f}×"])
    return Section(
        "10. Transfer: emulator-pretrained surrogate fine-tuned on another climate model's runs",
        intro(__doc__),
        tables=[table(["runs of the other model (N)", "fine-tuned from the universe", "from scratch", f"from scratch, {LONGER}× the steps",
                       "scratch / fine-tuned"], rows),
                table(["control on the same held-out runs", "surface-T RMSE"],
                      [["pretrained, no fine-tuning (zero-shot)", f"{zero_shot:.2f} K"],
                       ["the change itself: CLERO's maps vs the other model's", f"{change:.2f} K"]])],
        notes=[f"{sizes['held_out']} held-out runs of the other model; {sizes['steps']} optimiser steps for every fine-tuned and scratch run; "
               f"pretrained {sizes['pretrain_epochs']} epochs on the default universe",
               f"the scratch arm takes the same {sizes['steps']} optimiser steps as the fine-tuning (what pretraining buys at equal "
               f"fine-tuning compute); the {LONGER}× column shows how far training longer takes it"],
        results=results,
    )
