"""After the test: retrieve the observed spectra of `components.spectral.observed` with the trained model.

Each file is binned onto the instrument (observed.py) and the retrieval — log10 abundances
with their calibrated 1σ, P(biosphere) — is written to `<run>/observed_retrievals.json`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ...fsutil import atomic_write_json
from .data import CONTEXT, TARGET_GASES
from .forward import stellar_radius
from .observed import bin_to_instrument, read_spectrum

OBSERVED_FILE = "observed_retrievals.json"


def report(cfg, module, datamodule, run_dir: Path) -> dict:
    sc = cfg.components.spectral
    if not sc.observed:
        return {}
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
    return {"observed_spectra_retrieved": float(len(results))}

