"""The chemistry of the graph VAE: elements and valences, stability rules, canonical atom order,
and molecules ↔ dense graph tensors.

Molecules are neutral, closed-shell, hydrogens implicit, drawn in Kekulé form (bond orders 1–3,
no aromatic flags); RDKit perceives aromaticity when a molecule is sanitised and written as
canonical SMILES.

**Valences** are the neutral ground-state ones (C 4, N 3, O 2, S 2, P 3): implicit hydrogens
fill what bonds leave free. Hypervalent S(IV, VI) and P(V) (SO2, H2SO4, H3PO4) are outside the
graph space; the biosignature table holds such gases as data.

**Stability rules** (`rule_violations`), chosen to remove structures that are not stable
volatiles while keeping the well-known small molecules; each is a forbidden substructure, so it
is hereditary (a molecule that breaks one keeps breaking it when atoms or bonds are added),
which lets the enumerator prune as it grows:

1. `peroxide`: no O–O single bond (peroxides and O–O chains decompose; O=O, dioxygen, is allowed);
2. `ring_triple_or_cumulated`: no triple bond and no atom with two double bonds in a ring of
   fewer than 8 atoms (the linear geometry does not fit; cyclooctyne, 8 atoms, is isolable);
3. `small_ring_unsaturation`: no double or aromatic bond in a 3- or 4-membered ring (Baeyer
   strain on top of the ring's own; cyclopropene-type rings are reactive intermediates, not
   volatiles). Every Kekulé structure of an aromatic system is checked, not just the one RDKit
   draws, so the rule is a property of the molecule, not of a drawing.

**Canonical atom order** (`canonical_order`): RDKit's canonical ranks, then a breadth-first
search from the lowest-ranked atom that visits neighbours by rank. The order is invariant to
how the input was written, and every atom after the first is bonded to an earlier one — the
property the valence-masked decoder relies on to keep molecules connected.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

ELEMENTS = ("C", "N", "O", "S", "P")  # atom classes 0..4; class 5 = no atom
VALENCE = {"C": 4, "N": 3, "O": 2, "S": 2, "P": 3}
NO_ATOM = len(ELEMENTS)
BOND_ORDERS = (0, 1, 2, 3)  # edge classes: none, single, double, triple
RULES = ("peroxide", "ring_triple_or_cumulated", "small_ring_unsaturation")


def quiet_rdkit() -> None:
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")


def mol_from_graph(atoms: Iterable[str], bonds: dict[tuple[int, int], int]):
    """A sanitised RDKit molecule from element symbols and `{(i, j): order}`, or None if RDKit rejects it."""
    from rdkit import Chem

    kinds = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    mol = Chem.RWMol()
    for symbol in atoms:
        atom = Chem.Atom(symbol)
        atom.SetNoImplicit(False)
        mol.AddAtom(atom)
    for (i, j), order in bonds.items():
        if order:
            mol.AddBond(int(i), int(j), kinds[int(order)])
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # RDKit raises several types (valence, kekulisation)
        return None
    return mol.GetMol()


def canonical_smiles(atoms, bonds) -> str | None:
    from rdkit import Chem

    mol = mol_from_graph(atoms, bonds)
    return None if mol is None else Chem.MolToSmiles(mol)


def graph_of(mol) -> tuple[list[str], dict[tuple[int, int], int]]:
    """Element symbols and Kekulé bond orders of an RDKit molecule, in its own atom order."""
    from rdkit import Chem

    mol = Chem.Mol(mol)
    Chem.Kekulize(mol, clearAromaticFlags=True)
    atoms = [a.GetSymbol() for a in mol.GetAtoms()]
    bonds = {}
    for bond in mol.GetBonds():
        i, j = sorted((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
        bonds[(i, j)] = int(bond.GetBondTypeAsDouble())
    return atoms, bonds


def used_valence(n_atoms: int, bonds: dict[tuple[int, int], int]) -> list[int]:
    used = [0] * n_atoms
    for (i, j), order in bonds.items():
        used[i] += order
        used[j] += order
    return used


def unsupported(mol) -> str | None:
    """Why a parsed molecule is outside the graph space (element, charge, radical, valence), or None."""
    from rdkit import Chem

    if mol.GetNumHeavyAtoms() == 0:
        return "no heavy atom"
    if len(Chem.GetMolFrags(mol)) > 1:
        return "fragment: more than one molecule on the line (one SMILES per molecule)"
    for atom in mol.GetAtoms():
        symbol = atom.GetSymbol()
        if atom.GetIsotope():
            return f"isotope label {atom.GetIsotope()}{symbol} (write the unlabelled molecule)"
        if symbol == "H":
            continue
        if symbol not in VALENCE:
            return f"unsupported element {symbol} (supported: {', '.join(ELEMENTS)})"
        if atom.GetFormalCharge():
            return f"charged atom {symbol}{atom.GetFormalCharge():+d} (only neutral molecules)"
        if atom.GetNumRadicalElectrons():
            return f"radical on {symbol} (only closed-shell molecules)"
        if atom.GetTotalValence() > VALENCE[symbol]:
            return (f"{symbol} with valence {atom.GetTotalValence()} exceeds {VALENCE[symbol]} "
                    f"(hypervalent S/P are outside the graph space)")
    return None


def rule_violations(mol) -> list[str]:
    """The stability rules (module docstring) that a sanitised molecule breaks; [] if it is stable."""
    atoms, bonds = graph_of(mol)
    broken = []
    if any(order == 1 and atoms[i] == "O" and atoms[j] == "O" for (i, j), order in bonds.items()):
        broken.append("peroxide")
    ring_bonds = [set(ring) for ring in mol.GetRingInfo().BondRings()]
    kekule = {}
    for bond in mol.GetBonds():
        i, j = sorted((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
        kekule[bond.GetIdx()] = bonds[(i, j)]
    in_small_ring = set().union(*(ring for ring in ring_bonds if len(ring) < 8))
    doubles_at = [0] * len(atoms)
    for idx in in_small_ring:
        bond = mol.GetBondWithIdx(idx)
        if kekule[idx] == 2:
            doubles_at[bond.GetBeginAtomIdx()] += 1
            doubles_at[bond.GetEndAtomIdx()] += 1
    if any(kekule[idx] == 3 for idx in in_small_ring) or max(doubles_at, default=0) >= 2:
        broken.append("ring_triple_or_cumulated")
    small = [ring for ring in ring_bonds if len(ring) <= 4]
    if any(kekule[idx] >= 2 for ring in small for idx in ring) or _double_in_any_kekule_form(mol, small):
        broken.append("small_ring_unsaturation")
    return broken


def _double_in_any_kekule_form(mol, rings: list[set[int]]) -> bool:
    """Whether some Kekulé structure of `mol` puts a double bond on one of `rings`' bonds (only
    aromatic bonds can differ between structures; RDKit draws just one of them)."""
    from rdkit import Chem

    aromatic = {idx for ring in rings for idx in ring if mol.GetBondWithIdx(idx).GetIsAromatic()}
    if not aromatic:
        return False
    for form in Chem.ResonanceMolSupplier(mol, Chem.KEKULE_ALL):
        if form is not None and any(form.GetBondWithIdx(idx).GetBondType() == Chem.BondType.DOUBLE for idx in aromatic):
            return True
    return False


def canonical_order(mol) -> list[int]:
    """Atom indices in canonical breadth-first order (module docstring)."""
    from rdkit import Chem

    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=True))
    start = min(range(mol.GetNumAtoms()), key=ranks.__getitem__)
    order, seen = [start], {start}
    for atom in order:  # grows while iterated: a breadth-first queue
        for neighbour in sorted((n.GetIdx() for n in mol.GetAtomWithIdx(atom).GetNeighbors()), key=ranks.__getitem__):
            if neighbour not in seen:
                seen.add(neighbour)
                order.append(neighbour)
    return order


def to_tensors(smiles: str, max_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """`(atom classes [max_atoms], bond classes [max_atoms, max_atoms])` in canonical order; padding = no atom / no bond."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    order = canonical_order(mol)
    position = {atom: k for k, atom in enumerate(order)}
    atoms, bonds = graph_of(mol)
    atom_classes = np.full(max_atoms, NO_ATOM, dtype=np.int64)
    for atom, k in position.items():
        atom_classes[k] = ELEMENTS.index(atoms[atom])
    bond_classes = np.zeros((max_atoms, max_atoms), dtype=np.int64)
    for (i, j), order_ij in bonds.items():
        a, b = position[i], position[j]
        bond_classes[a, b] = bond_classes[b, a] = order_ij
    return atom_classes, bond_classes


def from_tensors(atom_classes, bond_classes) -> tuple[list[str], dict[tuple[int, int], int]]:
    """Element symbols and bonds of the atoms that exist (class < NO_ATOM); bonds to missing atoms are dropped."""
    keep = [k for k, c in enumerate(atom_classes) if int(c) != NO_ATOM]
    index = {k: n for n, k in enumerate(keep)}
    atoms = [ELEMENTS[int(atom_classes[k])] for k in keep]
    bonds = {}
    for a in keep:
        for b in keep:
            if a < b and int(bond_classes[a][b]):
                bonds[(index[a], index[b])] = int(bond_classes[a][b])
    return atoms, bonds


def is_connected(n_atoms: int, bonds: dict[tuple[int, int], int]) -> bool:
    if n_atoms == 0:
        return False
    neighbours = {k: set() for k in range(n_atoms)}
    for i, j in bonds:
        neighbours[i].add(j)
        neighbours[j].add(i)
    seen, stack = {0}, [0]
    while stack:
        for n in neighbours[stack.pop()] - seen:
            seen.add(n)
            stack.append(n)
    return len(seen) == n_atoms
