"""After the test: the posterior's calibration curves and a corner plot, the biosphere classifier's
controls, the report's spectra plot, the challenge's posterior score, and the retrieval of the
observed spectra of `components.spectral.observed` with the trained model.

Calibration (`posterior_calibration.png`): expected coverage of HPD regions and TARP against the
credibility level on the test planets — the diagonal for a calibrated posterior. The corner plot
(`posterior_corner.png`, the `corner` package) shows one test planet's posterior samples with the truth.

Controls (`data/leakage.py`) on what the CNN reads — the noisy spectrum's bins and T⋆, g: the
majority baseline, the best single bin or context value alone, and the boosted references on true
and shuffled labels, for the biosphere flag (training spectra with one fixed noise draw).

With the Ariel challenge's traces, the test planets' posteriors are scored with the challenge's K-S
posterior score (`ariel_posterior_score`, challenge.py), next to the score of the prior as every
planet's posterior (`ariel_posterior_score_prior`: what a retrieval that learnt nothing gets).

Each observed file is binned onto the instrument (observed.py) and the retrieval — log10 abundances
(posterior mean and standard deviation), P(biosphere) — is written to `<run>/observed_retrievals.json`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...data.leakage import controls
from ...fsutil import atomic_write_json
from ...plots import PLOTS_DIR, figure
from ...universe.biosphere import SCENARIOS
from .challenge import posterior_score
from .data import CONTEXT, TARGET_GASES
from .forward import stellar_radius
from .module import INPUTS
from .observed import bin_to_instrument, read_spectrum
from .posterior import COVERAGE_LEVELS

OBSERVED_FILE = "observed_retrievals.json"


def report(cfg, module, datamodule, run_dir: Path) -> dict:
    sc = cfg.components.spectral
    plots = run_dir / PLOTS_DIR
    module.eval()
    test = held_out_posteriors(module, datamodule, "test")
    plot_calibration(test, sc.posterior, plots / "posterior_calibration.png")
    plot_corner(test, datamodule.target_names, plots / "posterior_corner.png")
    headline = {}
    traces = [datamodule.challenge.traces[i] for i in datamodule.indices["test"]] if datamodule.challenge is not None and datamodule.challenge.traces else []
    if any(trace is not None for trace in traces):
        headline["ariel_scored_planets"] = float(sum(trace is not None for trace in traces))
        headline["ariel_posterior_score"] = posterior_score(list(test["samples"].transpose(1, 0, 2)), traces)
        # its control: every test planet given the prior (the training planets' parameters) as its posterior
        prior = datamodule.datasets["train"].tensors["targets"].numpy().astype(np.float64)
        headline["ariel_posterior_score_prior"] = posterior_score([prior] * len(traces), traces)
    if not datamodule.has_biosphere:
        return headline
    plot_retrievals(module, datamodule, plots / "spectra_and_retrievals.png")
    headline.update(biosphere_controls(datamodule, run_dir, cfg.run.seed))
    if not sc.observed:
        return headline
    results = []
    for path in sc.observed:
        spectrum = read_spectrum(path)
        depth, sigma = bin_to_instrument(spectrum, datamodule.instrument)
        context = torch.tensor([[spectrum.context[name] for name in CONTEXT]], dtype=torch.float32)
        r_star = torch.as_tensor(stellar_radius(context[:, CONTEXT.index("T_star")].numpy()), dtype=torch.float32)
        with torch.no_grad():
            inputs = [torch.as_tensor(a, dtype=torch.float32).to(module.device) for a in (depth[None], sigma[None], context, r_star)]
            r = module.net(*inputs, inputs[2][:, CONTEXT.index("gravity")], seed=cfg.run.seed)
        results.append({
            "file": str(path),
            "log10_abundance": {g: float(r["log10_abundance"][0, i]) for i, g in enumerate(TARGET_GASES)},
            "sigma_dex": {g: float(r["sigma_dex"][0, i]) for i, g in enumerate(TARGET_GASES)},
            "p_biosphere": float(r["p_biosphere"][0]),
        })
    atomic_write_json(run_dir / OBSERVED_FILE, {"instrument": datamodule.instrument.name, "retrievals": results})
    return {**headline, "observed_spectra_retrieved": float(len(results))}


CONTROLS_FILE = "controls.json"


def biosphere_controls(datamodule, run_dir: Path, seed: int) -> dict:
    """The biosphere classifier's controls, written to `controls.json`; headline figures returned."""
    def columns(split: str, noise_seed: int | None):
        t = datamodule.datasets[split].tensors
        noise = t["noise"].numpy() if noise_seed is None else np.random.default_rng([seed, 0xC7, noise_seed]).normal(size=t["depth"].shape) * t["sigma"].numpy()
        return np.concatenate([t["depth"].numpy() + noise, t["context"].numpy()], axis=1), t["biosphere"].numpy().astype(np.int64)

    x_train, y_train = columns("train", noise_seed=0)  # the training split has no fixed noise: one draw
    x_test, y_test = columns("test", noise_seed=None)
    names = [f"depth@{w:.3g}um" for w in datamodule.wavelength] + list(CONTEXT)
    audit = {"biosphere": controls("binary", x_train, y_train, x_test, y_test, names, seed)}
    atomic_write_json(run_dir / CONTROLS_FILE, audit)
    c = audit["biosphere"]
    return {"majority_biosphere_accuracy": c["majority_baseline"]["accuracy"], "best_single_input_biosphere_roc_auc": c["best_single_input"]["roc_auc"],
            "shuffled_reference_biosphere_roc_auc": c["shuffled_label_reference"]["roc_auc"], "all_inputs_reference_biosphere_roc_auc": c["all_inputs_reference"]["roc_auc"]}


@torch.inference_mode()
def plot_retrievals(module, datamodule, path: Path) -> None:
    """One test planet per scenario present (abiotic, oxygenic, anoxic, false-positive O2): its noisy
    spectrum over the noise-free one, and the retrieved log10 abundances ± 1σ against the truth."""
    test = datamodule.datasets["test"].tensors
    picks = [int(torch.nonzero(test["scenario"] == k)[0]) for k in range(len(SCENARIOS)) if (test["scenario"] == k).any()][:4]
    batch = {k: v[picks].to(module.device) for k, v in test.items()}
    r = module.net(batch["depth"] + batch["noise"], *(batch[k] for k in INPUTS), seed=0)
    wavelength = datamodule.wavelength
    with figure(path, len(picks), 2, figsize=(12, 2.6 * len(picks)), squeeze=False, gridspec_kw={"width_ratios": [3, 1.3]}) as (fig, axes):
        for row, i in enumerate(picks):
            ax, bx = axes[row]
            ax.plot(wavelength, 1e6 * (test["depth"][i] + test["noise"][i]).numpy(), lw=0.6, color="grey", label="observed (noisy)")
            ax.plot(wavelength, 1e6 * test["depth"][i].numpy(), lw=1.0, color="tab:blue", label="noise-free")
            ax.set(xscale="log", xlabel="wavelength [µm]", ylabel="transit depth [ppm]",
                   title=f"test planet {datamodule.indices['test'][i]}: {SCENARIOS[int(test['scenario'][i])]} · P(biosphere) = {float(r['p_biosphere'][row]):.2f}")
            ax.title.set_fontsize(9)
            ax.legend(fontsize=7)
            y = range(len(TARGET_GASES))
            bx.errorbar(r["log10_abundance"][row].cpu(), y, xerr=r["sigma_dex"][row].cpu(), fmt="o", label="retrieved ± 1σ")
            bx.scatter(test["targets"][i, : len(TARGET_GASES)].numpy(), y, marker="x", color="black", zorder=3, label="truth")
            bx.set_yticks(list(y), TARGET_GASES)
            bx.set(xlabel="log10 volume mixing ratio")
            bx.legend(fontsize=7)


@torch.inference_mode()
def held_out_posteriors(module, datamodule, split: str) -> dict[str, np.ndarray]:
    """Of every planet of `split`: posterior `samples` `[n, planet, D]` (physical), `truth` `[planet, D]`,
    the truth's HPD `credibility` and TARP `fraction` `[planet]` — as the test metrics compute them."""
    parts = []
    for batch in getattr(datamodule, f"{split}_dataloader")():
        batch = {k: v.to(module.device) for k, v in batch.items()}
        r = module.retrieve(batch)
        credibility, fraction = module.credibility(r, module.net.standardise(batch["targets"]), batch)
        samples = r["samples"] * module.net.target_std + module.net.target_mean
        parts.append({"samples": samples, "truth": batch["targets"], "credibility": credibility, "fraction": fraction})
    return {key: torch.cat([p[key] for p in parts], dim=1 if key == "samples" else 0).cpu().numpy().astype(np.float64) for key in parts[0]}


def plot_calibration(test: dict, posterior: str, path: Path) -> None:
    """Expected coverage against credibility level: HPD regions and TARP, with COVERAGE_LEVELS marked."""
    levels = np.linspace(0.0, 1.0, 41)
    with figure(path, 1, 1, figsize=(4.6, 4.4)) as (fig, ax):
        ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--", label="calibrated")
        for key, label in (("credibility", "HPD regions"), ("fraction", "TARP")):
            ax.plot(levels, [(test[key] < a).mean() for a in levels], lw=1.4, label=label)
            ax.scatter(COVERAGE_LEVELS, [(test[key] < a).mean() for a in COVERAGE_LEVELS], s=10)
        ax.set(xlabel="credibility level", ylabel="expected coverage", xlim=(0, 1), ylim=(0, 1),
               title=f"{posterior} posterior, {len(test['truth'])} test planets")
        ax.legend(fontsize=8)


def plot_corner(test: dict, names, path: Path, planet: int = 0) -> None:
    """Posterior samples of one test planet (corner plot) with its true parameters."""
    import corner  # imports matplotlib: kept behind plots.figure, which selects the Agg backend first

    dims = len(names)
    with figure(path, dims, dims, figsize=(1.45 * dims + 1, 1.45 * dims + 1)) as (fig, _):
        corner.corner(test["samples"][:, planet], fig=fig, labels=list(names), truths=test["truth"][planet], truth_color="tab:red",
                      quantiles=(0.16, 0.5, 0.84), label_kwargs={"fontsize": 7}, max_n_ticks=3)
