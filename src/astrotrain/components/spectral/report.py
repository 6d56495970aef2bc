"""After the test: the controls of the biosphere classifier, the report's spectra plot, and the
retrieval of the observed spectra of `components.spectral.observed` with the trained model.

Controls (`data/leakage.py`) on what the CNN reads — the noisy spectrum's bins and T⋆, g: the
majority baseline, the best single bin or context value alone, and the boosted references on true
and shuffled labels, for the biosphere flag (training spectra with one fixed noise draw).

Each file is binned onto the instrument (observed.py) and the retrieval — log10 abundances
with their calibrated 1σ, P(biosphere) — is written to `<run>/observed_retrievals.json`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ...data.leakage import controls
from ...fsutil import atomic_write_json
from ...plots import PLOTS_DIR, figure
from ...universe.biosphere import SCENARIOS
from .data import CONTEXT, TARGET_GASES
from .forward import stellar_radius
from .observed import bin_to_instrument, read_spectrum

OBSERVED_FILE = "observed_retrievals.json"


def report(cfg, module, datamodule, run_dir: Path) -> dict:
    sc = cfg.components.spectral
    plot_retrievals(module, datamodule, run_dir / PLOTS_DIR / "spectra_and_retrievals.png")
    headline = biosphere_controls(datamodule, run_dir, cfg.run.seed)
    if not sc.observed:
        return headline
    results = []
    module.eval()
    for path in sc.observed:
        spectrum = read_spectrum(path)
        depth, sigma = bin_to_instrument(spectrum, datamodule.instrument)
        context = torch.tensor([[spectrum.context[name] for name in CONTEXT]], dtype=torch.float32)
        r_star = torch.as_tensor(stellar_radius(context[:, CONTEXT.index("T_star")].numpy()), dtype=torch.float32)
        with torch.no_grad():
            r = module.retrieve(torch.as_tensor(depth[None], dtype=torch.float32), torch.as_tensor(sigma[None], dtype=torch.float32), context, r_star)
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
    import numpy as np

    def columns(split: str, noise_seed: int | None):
        t = datamodule.datasets[split].tensors
        noise = t["noise"].numpy() if noise_seed is None else np.random.default_rng([seed, 0xC7, noise_seed]).normal(size=t["depth"].shape) * t["sigma"].numpy()
        return np.concatenate([t["depth"].numpy() + noise, t["context"].numpy()], axis=1), t["biosphere"].numpy().astype(np.int64)

    x_train, y_train = columns("train", noise_seed=0)  # the training split has no fixed noise: one draw
    x_test, y_test = columns("test", noise_seed=None)
    names = [f"depth@{w:.3g}um" for w in datamodule.instrument.wavelength] + list(CONTEXT)
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
    module.eval()
    batch = {k: v[picks].to(module.device) for k, v in test.items()}
    r = module.retrieve(batch["depth"] + batch["noise"], batch["sigma"], batch["context"], batch["r_star"])
    wavelength = datamodule.instrument.wavelength
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
            bx.scatter(test["targets"][i].numpy(), y, marker="x", color="black", zorder=3, label="truth")
            bx.set_yticks(list(y), TARGET_GASES)
            bx.set(xlabel="log10 volume mixing ratio")
            bx.legend(fontsize=7)
