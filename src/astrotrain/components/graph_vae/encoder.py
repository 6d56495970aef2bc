"""What the graph VAE lends to fusion: its encoder reads the molecules of the planet's gas inventory.

The gas modality is the planet's atmosphere as a set: each gas of the universe's inventory
(N2, CO2, CH4, H2O, O2, O3, N2O, CH3Cl, DMS) with its log10 volume mixing ratio. Each gas is
identified by the VAE's latent mean of its molecular graph, so chemically similar gases start
close; gases outside the VAE's neutral C/N/O/S/P space (O3 and N2O as charged resonance
forms, CH3Cl with its chlorine) get a learned embedding instead. Per gas, a small MLP reads
(identity, abundance); the planet's embedding is their mean — a permutation-invariant set
encoder (DeepSets, Zaheer et al. 2017).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...training.checkpoint import submodule_state
from ...universe.biosphere import GASES
from .biosignatures import GASES as KNOWN_GASES
from .model import GraphVAE

MODALITY = "gases"
FORMULA = {"DMS": "C2H6S"}  # universe gas name → Hill formula where they differ
LOG_FLOOR = -10.0  # log10 mixing ratio of an absent gas


def gas_smiles() -> list[str]:
    by_formula = {gas.formula: gas.smiles for gas in KNOWN_GASES}
    return [by_formula[FORMULA.get(name, name)] for name in GASES]


def graph_tensors(max_atoms: int) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    """Atom and bond classes of the inventory's gases inside the VAE's space, and which gases those are."""
    from rdkit import Chem

    from .chemistry import to_tensors, unsupported

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
        self.register_buffer("order", torch.argsort(torch.tensor(inside + outside)))  # rows of [inside; outside] in GASES order
        latent = vae.latent_dim
        self.outside = nn.Parameter(torch.randn(len(outside), latent) * 0.1)
        self.dim = 2 * latent
        self.mix = nn.Sequential(nn.Linear(latent + 1, self.dim), nn.GELU(), nn.Linear(self.dim, self.dim))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inside = self.pretrained.encode(self.atoms, self.bonds)[0]
        identity = torch.cat([inside, self.outside])[self.order]  # [G, latent]
        x = batch["gases.log10_x"]  # [B, G]
        per_gas = torch.cat([identity.expand(x.shape[0], -1, -1), (x / -LOG_FLOOR * 2 + 1)[..., None]], dim=-1)
        return self.mix(per_gas).mean(dim=1)


def modality_inputs(cfg, universe) -> dict[str, np.ndarray]:
    atmosphere = universe.atmosphere
    x = np.stack([atmosphere[f"x_{name}"].to_numpy() for name in GASES], axis=1)
    return {"gases.log10_x": np.log10(np.maximum(x, 10.0**LOG_FLOOR))}


def lend(cfg, state: dict[str, torch.Tensor], normalisation: dict) -> GasInventoryEncoder:
    gc = cfg.components.graph_vae
    vae = GraphVAE(gc.max_atoms, gc.node_dim, gc.gnn_layers, gc.hidden, gc.latent_dim)
    vae.load_state_dict(submodule_state(state, "model."))
    return GasInventoryEncoder(vae, gc.max_atoms)
