"""What the graph VAE lends to fusion: its encoder reads the planet's *retrieved* gas inventory.

The gas modality is what an observer has of the atmosphere: the spectral retrieval's report on
the planet's own noisy spectrum (`spectral/retrieval.py`) — per retrievable gas (CO2, CH4, H2O,
O2, O3, N2O) detected or not, its log10 abundance ± σ where detected, the upper limit where
not. Never the true inventory: the true gases are the spectral component's training targets.
The spectrum is the one the spectrum modality sees (the same noise draw), so the two modalities
are one observation read two ways.

Each gas is identified by the VAE's latent mean of its molecular graph, so chemically similar
gases start close; gases outside the VAE's neutral C/N/O/S/P space (O3 and N2O as charged
resonance forms) get a learned embedding instead. Per gas, a small MLP reads (identity,
detected, value, σ); the planet's embedding is their mean — a permutation-invariant set encoder
(DeepSets, Zaheer et al. 2017).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...runs.checkpoints import submodule_state
from ..spectral.data import TARGET_GASES
from ..spectral.encoder import modality_inputs as spectrum_inputs
from ..spectral.retrieval import gas_detections, retrieve_all
from .biosignatures import GASES as KNOWN_GASES
from .chemistry import to_tensors, unsupported
from .model import GraphVAE

MODALITY = "gases"
OBSERVED_GASES = TARGET_GASES
RETRIEVED_BY = "spectral"  # the component whose finished run retrieves this modality's inputs
LOG_FLOOR = -10.0  # log10 mixing ratio of an absent gas (the retrieval's target floor)


def gas_smiles() -> list[str]:
    by_formula = {gas.formula: gas.smiles for gas in KNOWN_GASES}
    return [by_formula[name] for name in OBSERVED_GASES]


def graph_tensors(max_atoms: int) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    """Atom and bond classes of the observed gases inside the VAE's space, and which gases those are."""
    from rdkit import Chem

    atoms, bonds, encodable = [], [], []
    for smiles in gas_smiles():
        mol = Chem.MolFromSmiles(smiles)
        ok = unsupported(mol) is None and mol.GetNumHeavyAtoms() <= max_atoms
        encodable.append(ok)
        if ok:
            a, b = to_tensors(smiles, max_atoms)
            atoms.append(a)
            bonds.append(b)
    return np.stack(atoms), np.stack(bonds), encodable


class GasInventoryEncoder(nn.Module):
    def __init__(self, vae: GraphVAE, max_atoms: int):
        super().__init__()
        self.pretrained = vae
        atoms, bonds, encodable = graph_tensors(max_atoms)
        self.register_buffer("atoms", torch.from_numpy(atoms))
        self.register_buffer("bonds", torch.from_numpy(bonds))
        inside = [i for i, ok in enumerate(encodable) if ok]
        outside = [i for i, ok in enumerate(encodable) if not ok]
        self.register_buffer("order", torch.argsort(torch.tensor(inside + outside)))  # rows of [inside; outside] in gas order
        latent = vae.latent_dim
        self.outside = nn.Parameter(torch.randn(len(outside), latent) * 0.1)
        self.dim = 2 * latent
        self.mix = nn.Sequential(nn.Linear(latent + 3, self.dim), nn.GELU(), nn.Linear(self.dim, self.dim))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inside = self.pretrained.encode(self.atoms, self.bonds)[0]
        identity = torch.cat([inside, self.outside])[self.order]  # [G, latent]
        observed = batch["gases.observed"]  # [B, G, (detected, value, σ)]
        reading = torch.stack([observed[..., 0], observed[..., 1] / -LOG_FLOOR * 2 + 1, observed[..., 2]], dim=-1)
        per_gas = torch.cat([identity.expand(observed.shape[0], -1, -1), reading], dim=-1)
        return self.mix(per_gas).mean(dim=1)


def modality_inputs(cfg, universe, upstream: dict) -> dict[str, np.ndarray]:
    """The retrieval's detections on every planet's observed spectrum (`upstream[RETRIEVED_BY]`: the spectral run)."""
    spectral = upstream[RETRIEVED_BY]
    spectrum = spectrum_inputs(spectral.cfg, universe, upstream)
    retriever = spectral.retriever()
    retrieval = retrieve_all(retriever, spectrum["spectrum.depth"], spectrum["spectrum.sigma"], spectrum["spectrum.context"], spectrum["spectrum.r_star"])
    # the spectrum travels with the detections (the same arrays the spectrum modality has): an observatory
    # that re-observes it (galactic) re-retrieves the gases from its own spectrum
    return {**spectrum, "gases.observed": gas_detections(retrieval, retriever.detection_sigma, retriever.detection_floor)}


def lend(cfg, state: dict[str, torch.Tensor], normalisation: dict) -> GasInventoryEncoder:
    gc = cfg.components.graph_vae
    vae = GraphVAE(gc.max_atoms, gc.node_dim, gc.gnn_layers, gc.hidden, gc.latent_dim)
    vae.load_state_dict(submodule_state(state, "model."))
    return GasInventoryEncoder(vae, gc.max_atoms)
