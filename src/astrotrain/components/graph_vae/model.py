"""A graph VAE over dense molecular graphs (after GraphVAE, Simonovsky & Komodakis 2018).

* Graphs: up to N atoms in canonical breadth-first order (`chemistry.canonical_order`), atom
  classes (C, N, O, S, P, none) and bond classes (none, single, double, triple) as dense tensors —
  small enough that dense matmuls beat scatter-add message passing and stay deterministic on GPUs.
* Encoder: relational message passing on the dense adjacency of each bond order (R-GCN,
  Schlichtkrull et al. 2018), then the node states concatenated in canonical order and an MLP to
  the mean and log-variance of q(z | G). Permutations are handled by the canonical order: no graph
  matching, so the reconstruction target is the graph in that order.
* Decoder: an MLP from z to all atom logits `[N, 6]` and bond logits `[N, N, 4]` at once
  (symmetrised). `decode_masked` turns logits into molecules that never exceed a valence; plain
  argmax decoding (`decode_argmax`) is kept to measure validity without the mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .chemistry import ELEMENTS, NO_ATOM, VALENCE

N_ATOM_CLASSES = len(ELEMENTS) + 1
N_BOND_CLASSES = 4


class RelationalLayer(nn.Module):
    """h ← h + GELU(LayerNorm(W₀ h + Σ_r A_r W_r h)) over the bond orders r = 1, 2, 3."""

    def __init__(self, dim: int):
        super().__init__()
        self.self_loop = nn.Linear(dim, dim)
        self.per_order = nn.Linear(dim, 3 * dim, bias=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, h: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        b, n, d = h.shape
        messages = self.per_order(h).view(b, n, 3, d)  # W_r h for r = 1..3
        gathered = torch.einsum("brij,bjrd->bid", adjacency, messages)
        return h + F.gelu(self.norm(self.self_loop(h) + gathered))


class GraphVAE(nn.Module):
    def __init__(self, max_atoms: int, node_dim: int = 64, gnn_layers: int = 3, hidden: int = 512, latent_dim: int = 32):
        super().__init__()
        self.max_atoms, self.latent_dim = max_atoms, latent_dim
        self.embed = nn.Embedding(N_ATOM_CLASSES, node_dim)
        self.layers = nn.ModuleList(RelationalLayer(node_dim) for _ in range(gnn_layers))
        self.to_latent = nn.Sequential(
            nn.Linear(max_atoms * node_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 2 * latent_dim)
        )
        n_pairs = max_atoms * max_atoms
        self.from_latent = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, max_atoms * N_ATOM_CLASSES + n_pairs * N_BOND_CLASSES),
        )

    def encode(self, atoms: torch.Tensor, bonds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`atoms` [B, N] classes, `bonds` [B, N, N] classes → mean, log-variance [B, latent]."""
        adjacency = F.one_hot(bonds, N_BOND_CLASSES)[..., 1:].permute(0, 3, 1, 2).to(self.embed.weight.dtype)  # [B, 3, N, N]
        h = self.embed(atoms)
        for layer in self.layers:
            h = layer(h, adjacency)
        mean, log_var = self.to_latent(h.flatten(1)).chunk(2, dim=-1)
        return mean, log_var.clamp(-10, 10)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z [B, latent] → atom logits [B, N, 6], symmetric bond logits [B, N, N, 4]."""
        n = self.max_atoms
        out = self.from_latent(z)
        atom_logits = out[:, : n * N_ATOM_CLASSES].view(-1, n, N_ATOM_CLASSES)
        bond_logits = out[:, n * N_ATOM_CLASSES :].view(-1, n, n, N_BOND_CLASSES)
        return atom_logits, 0.5 * (bond_logits + bond_logits.transpose(1, 2))

    def forward(self, atoms: torch.Tensor, bonds: torch.Tensor, sample: bool = True):
        mean, log_var = self.encode(atoms, bonds)
        z = mean + torch.randn_like(mean) * (0.5 * log_var).exp() if sample else mean
        return (*self.decode(z), mean, log_var)


def valence_table(device=None) -> torch.Tensor:
    """Valence per atom class; 0 for "no atom"."""
    return torch.tensor([VALENCE[e] for e in ELEMENTS] + [0], device=device)


@torch.no_grad()
def decode_masked(atom_logits: torch.Tensor, bond_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Valence-masked greedy decoding ("biochemical constraints"), batched: atom classes [B, N], bond classes [B, N, N].

    Atoms are placed in slot order. Atom i takes its most likely class; "no atom" ends the
    molecule, and is forced once no earlier atom has a free valence. Its bonds to earlier atoms j
    (in order) take the most likely order within min(free valence of i, of j, 3). If none was
    chosen, the most likely bond (order ≥ 1) to an earlier atom with free valence is added, so the
    molecule stays connected. No atom ever exceeds its valence, so RDKit sanitisation succeeds.
    """
    b, n, _ = atom_logits.shape
    device = atom_logits.device
    valence = valence_table(device)
    orders = torch.arange(N_BOND_CLASSES, device=device)
    atoms = torch.full((b, n), NO_ATOM, dtype=torch.long, device=device)
    bonds = torch.zeros((b, n, n), dtype=torch.long, device=device)
    free = torch.zeros((b, n), dtype=torch.long, device=device)
    alive = torch.ones(b, dtype=torch.bool, device=device)
    rows = torch.arange(b, device=device)
    for i in range(n):
        logits = atom_logits[:, i].clone()
        if i == 0:
            logits[:, NO_ATOM] = -torch.inf
        else:
            logits[~(free[:, :i] > 0).any(dim=1), :NO_ATOM] = -torch.inf  # nothing left to bond to
        kind = torch.where(alive, logits.argmax(dim=-1), torch.full_like(alive, NO_ATOM, dtype=torch.long))
        alive = alive & (kind != NO_ATOM)
        atoms[:, i] = kind
        free[:, i] = valence[kind]
        bonded = torch.zeros(b, dtype=torch.bool, device=device)
        for j in range(i):
            cap = torch.minimum(torch.minimum(free[:, i], free[:, j]), torch.full_like(free[:, i], 3))
            scores = bond_logits[:, i, j].masked_fill(orders[None, :] > cap[:, None], -torch.inf)
            order = torch.where(alive, scores.argmax(dim=-1), torch.zeros_like(cap))
            _set_bond(bonds, free, i, j, order)
            bonded |= order > 0
        need = alive & ~bonded & (i > 0)
        if need.any():
            scores = bond_logits[:, i, :i, 1:].clone()  # [B, i, 3]: orders 1..3 to earlier atoms
            cap = torch.minimum(free[:, :i], free[:, i : i + 1]).clamp(max=3)
            scores = scores.masked_fill(orders[None, None, 1:] > cap[:, :, None], -torch.inf)
            best = scores.flatten(1).argmax(dim=-1)
            j, order = best // 3, best % 3 + 1
            for r in rows[need].tolist():
                _set_bond(bonds[r : r + 1], free[r : r + 1], i, int(j[r]), order[r : r + 1])
    return atoms, bonds


def _set_bond(bonds, free, i: int, j: int | torch.Tensor, order: torch.Tensor) -> None:
    bonds[:, i, j] = order
    bonds[:, j, i] = order
    free[:, i] -= order
    free[:, j] -= order


@torch.no_grad()
def decode_argmax(atom_logits: torch.Tensor, bond_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unconstrained decoding: every atom and bond class by its own argmax (bonds symmetric, no self-bonds)."""
    atoms = atom_logits.argmax(dim=-1)
    bonds = bond_logits.argmax(dim=-1)
    bonds = torch.triu(bonds, diagonal=1)
    return atoms, bonds + bonds.transpose(1, 2)
