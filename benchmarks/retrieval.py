"""9. Spectral retrieval: the Gaussian head and the normalising flow side by side, and NPE against a sampler.

Four runs of `python train.py --component spectral` on the default universe and config (60 epochs),
`components.spectral.posterior` ∈ {gaussian, flow} × `instrument` ∈ {future_1ppm (the default),
jwst_nirspec_prism}: test-split R² per target (log10 abundances, terminator T, radius), central-interval
coverage at 68/95 % (mean over targets), and the expected coverage of joint HPD regions and TARP at
10 credibility levels (a calibrated posterior covers each level at that level; posterior.py).

Against a sampler: the 20 first test planets of the flow run at the default instrument, each retrieved
by emcee (affine-invariant ensemble MCMC, Foreman-Mackey et al. 2013) on the *same* analytic forward
model, noise and parameters (6 log10 abundances, terminator T, radius; flat priors over the training
targets' range), with the nuisances the network marginalises (μ, cloud deck, P0) fixed at their true
values and g, T⋆ given as to the network — the sampler's easier problem. Times per spectrum; the flow's is one spectrum at a time
(batch 1, the same posterior sample count as the metrics), and per spectrum in a batch of 20.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import emcee  # the dev extra's reference sampler: a missing install fails here, before an hour of training
import numpy as np
import torch

from astrotrain.components.spectral.data import build_datamodule
from astrotrain.components.spectral.forward import DEFAULT_OPACITIES, OpacityTable, transit_depth
from astrotrain.components.spectral.instrument import binning_matrix
from astrotrain.components.spectral.module import build_module
from astrotrain.runs.checkpoints import load_verified
from astrotrain.universe.generate import ensure_universe

from .harness import BASE_OVERRIDES, ROOT, Context, Section, config, intro, table

RUNS = {(p, i): f"{p}-{i}" for i in ("future_1ppm", "jwst_nirspec_prism") for p in ("gaussian", "flow")}
SAMPLER_PLANETS = (20, 2)
WALKERS, STEPS, BURN = 32, (1500, 300), (500, 100)


def train(ctx: Context, posterior: str, instrument: str) -> Path:
    out = ctx.workdir / f"{posterior}-{instrument}"
    args = [sys.executable, "train.py", "--component", "spectral", "trainer.accelerator=cpu", *BASE_OVERRIDES, f"run.output_dir={out}",
            "run.name=retrieval", f"components.spectral.posterior={posterior}", f"components.spectral.instrument={instrument}",
            "trainer.enable_progress_bar=false", *(["components.spectral.max_epochs=1"] if ctx.quick else [])]
    res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"spectral run {posterior}/{instrument} failed:\n{res.stderr[-3000:]}")
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def sampler_comparison(ctx: Context, run: Path) -> dict:
    """emcee vs the trained flow on the first test planets of `run`: seconds per spectrum, and the
    fraction of true values inside each one's central 68 % interval."""
    cfg = config("components.spectral.posterior=flow", cache_dir=None)
    universe = ensure_universe(cfg.data.universe, progress=False)
    datamodule = build_datamodule(cfg, universe)
    module = build_module(cfg, datamodule)
    module.load_state_dict(load_verified(run / "checkpoints" / "last.ckpt")["state_dict"])
    module.eval()
    n = SAMPLER_PLANETS[ctx.quick]
    test = datamodule.datasets["test"][list(range(n))]
    planets = datamodule.indices["test"][:n]
    truth = test["targets"].numpy().astype(np.float64)

    def flow(rows) -> dict:
        with torch.inference_mode():
            return module.retrieve({k: v[rows] for k, v in test.items()})

    flow([0])  # warm-up
    started = time.perf_counter()
    single = [flow([i]) for i in range(n)]
    flow_single_s = (time.perf_counter() - started) / n
    started = time.perf_counter()
    flow(list(range(n)))
    flow_batch_s = (time.perf_counter() - started) / n
    flow_samples = np.concatenate([r["samples"].numpy() for r in single], axis=1) * datamodule.stats["target_std"] + datamodule.stats["target_mean"]

    instrument = datamodule.instrument
    native = instrument.native_grid()
    opacities = OpacityTable.from_csv(cfg.components.spectral.opacity_table or DEFAULT_OPACITIES)
    averaging = binning_matrix(native, instrument.edges).T
    atmosphere, params = universe.atmosphere, universe.parameters
    train_targets = datamodule.datasets["train"].tensors["targets"].numpy().astype(np.float64)
    low, high = train_targets.min(axis=0), train_targets.max(axis=0)
    gases = [f"x_{g}" for g in ("CO2", "CH4", "H2O", "O2", "O3", "N2O")]
    emcee_seconds, inside_emcee = [], []
    for k, planet in enumerate(planets):
        fixed = {c: float(atmosphere[c].iloc[planet]) for c in atmosphere.columns if c.startswith("x_") or c in ("mu", "cloud_top_pressure")}
        fixed.update({c: float(params[c].iloc[planet]) for c in ("gravity", "P0", "T_star")})
        observed = (test["depth"][k] + test["noise"][k]).numpy().astype(np.float64)
        sigma = float(test["sigma"][k, 0])

        def log_probability(theta: np.ndarray) -> np.ndarray:  # [walkers, 8] → [walkers]
            ok = ((theta >= low) & (theta <= high)).all(axis=1)
            planets_ = {c: np.full(len(theta), v) for c, v in fixed.items()}
            planets_.update({g: 10.0 ** theta[:, j] for j, g in enumerate(gases)})
            planets_["terminator_temperature"], planets_["radius"] = theta[:, 6], theta[:, 7]
            model = transit_depth(native, planets_, opacities) @ averaging
            return np.where(ok, -0.5 * (((model - observed) / sigma) ** 2).sum(axis=1), -np.inf)

        rng = np.random.default_rng([cfg.run.seed, k])
        start = truth[k] + 0.05 * (high - low) * rng.normal(size=(WALKERS, len(low)))  # started near the truth: the sampler's best case
        start = np.clip(start, low + 1e-6, high - 1e-6)
        sampler = emcee.EnsembleSampler(WALKERS, len(low), log_probability, vectorize=True)
        sampler.random_state = np.random.RandomState(int(rng.integers(2**31))).get_state()  # emcee's documented seeding
        started = time.perf_counter()
        sampler.run_mcmc(start, STEPS[ctx.quick], progress=False)
        emcee_seconds.append(time.perf_counter() - started)
        chain = sampler.get_chain(discard=BURN[ctx.quick], flat=True)
        lo, hi = np.percentile(chain, [16, 84], axis=0)
        inside_emcee.append(((truth[k] >= lo) & (truth[k] <= hi)).mean())
    lo, hi = np.percentile(flow_samples, [16, 84], axis=0)
    inside_flow = ((truth >= lo) & (truth <= hi)).mean()
    evaluations = WALKERS * STEPS[ctx.quick]
    return {"planets": n, "emcee_s_per_spectrum": float(np.median(emcee_seconds)), "emcee_evaluations": evaluations,
            "flow_s_per_spectrum_batch1": flow_single_s, "flow_s_per_spectrum_batch": flow_batch_s,
            "coverage68_emcee": float(np.mean(inside_emcee)), "coverage68_flow": float(inside_flow)}


def run(ctx: Context) -> Section:
    runs = {key: train(ctx, *key) for key in RUNS}
    metrics = {key: json.loads((run / "metrics.json").read_text())["test"] for key, run in runs.items()}
    names = [k.removeprefix("r2_") for k in metrics[("gaussian", "future_1ppm")] if k.startswith("r2_")]
    r2_rows = [[p, i, *[f"{m[f'r2_{t}']:.3f}" for t in names], f"{m['coverage_68']:.3f}", f"{m['coverage_95']:.3f}",
                f"{m['hpd_coverage_68']:.3f}", f"{m['hpd_coverage_95']:.3f}", f"{m['tarp_coverage_68']:.3f}", f"{m['tarp_coverage_95']:.3f}",
                f"{m.get('biosphere_roc_auc', float('nan')):.3f}"] for (p, i), m in metrics.items()]
    levels = sorted(k.removeprefix("hpd_coverage_") for k in metrics[("gaussian", "future_1ppm")] if k.startswith("hpd_coverage_"))
    calibration_rows = [[p, i, kind, *[f"{m[f'{kind}_coverage_{lvl}']:.2f}" for lvl in levels]]
                        for (p, i), m in metrics.items() for kind in ("hpd", "tarp")]
    speed = sampler_comparison(ctx, runs[("flow", "future_1ppm")])
    ratio = speed["emcee_s_per_spectrum"] / speed["flow_s_per_spectrum_batch1"]
    speed_rows = [[f"emcee, {WALKERS} walkers × {STEPS[ctx.quick]} steps ({speed['emcee_evaluations']:,} forward models)",
                   f"{speed['emcee_s_per_spectrum']:.2f} s", "1×", f"{speed['coverage68_emcee']:.2f}"],
                  ["flow (NPE), one spectrum at a time", f"{speed['flow_s_per_spectrum_batch1'] * 1e3:.1f} ms", f"**{ratio:,.0f}×**", f"{speed['coverage68_flow']:.2f}"],
                  [f"flow (NPE), {speed['planets']} spectra in one batch", f"{speed['flow_s_per_spectrum_batch'] * 1e3:.2f} ms",
                   f"{speed['emcee_s_per_spectrum'] / speed['flow_s_per_spectrum_batch']:,.0f}×", "—"]]
    return Section(
        "9. Spectral retrieval: Gaussian head vs normalising flow, and NPE vs a sampler",
        intro(__doc__),
        tables=[table(["posterior", "instrument", *[f"R² {t}" for t in names], "68 % interval", "95 % interval", "HPD 68 %", "HPD 95 %",
                       "TARP 68 %", "TARP 95 %", "biosphere ROC-AUC"], r2_rows),
                table(["posterior", "instrument", "coverage of", *[f"{int(lvl)} %" for lvl in levels]], calibration_rows),
                table([f"retrieval of {speed['planets']} test planets (future_1ppm)", "time per spectrum (median)", "speed-up", "truth inside 68 % (all targets)"], speed_rows)],
        notes=["Coverage columns: fraction of test planets (HPD, TARP) or of planet × target pairs (intervals) whose truth lies inside the region; "
               "a calibrated posterior gives the level itself. A gas below the abundance floor (10⁻¹⁰) is a target spread over the decade "
               "below it (dequantised: data.py), for both heads.",
               "The sampler's nuisances are fixed at the truth and its walkers start near it: its time is a lower bound for a real retrieval, "
               "which also samples clouds, μ and P0 and needs convergence checks."],
        results={"runs": {f"{p}/{i}": m for (p, i), m in metrics.items()}, "sampler": speed},
    )
