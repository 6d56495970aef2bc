"""The generative-chemistry metrics, as defined in the literature (GraphVAE, Simonovsky & Komodakis
2018; MOSES, Polykovskiy et al. 2020):

* validity: share of generated graphs that are one connected molecule RDKit sanitises;
* uniqueness: distinct canonical SMILES among the valid ones;
* novelty: share of the distinct valid molecules that are not in the training set;
* reconstruction: share of held-out molecules whose decoded mean encoding is the same molecule
  (exact canonical SMILES);
* stable share: share of the distinct valid molecules that keep the stability rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .chemistry import from_tensors, is_connected, mol_from_graph, rule_violations


def smiles_of_graphs(atoms, bonds) -> list[str | None]:
    """Canonical SMILES of each graph (rows of class tensors), None where it is not one valid molecule."""
    from rdkit import Chem

    out = []
    for atom_row, bond_rows in zip(atoms.tolist(), bonds.tolist()):
        symbols, bond_map = from_tensors(atom_row, bond_rows)
        mol = mol_from_graph(symbols, bond_map) if symbols and is_connected(len(symbols), bond_map) else None
        out.append(None if mol is None else Chem.MolToSmiles(mol))
    return out


def generation_metrics(generated: Sequence[str | None], training: Iterable[str]) -> dict[str, float]:
    from rdkit import Chem

    valid = [s for s in generated if s is not None]
    distinct = set(valid)
    training = set(training)
    stable = sum(not rule_violations(Chem.MolFromSmiles(s)) for s in distinct)
    return {
        "validity": len(valid) / len(generated) if generated else 0.0,
        "uniqueness": len(distinct) / len(valid) if valid else 0.0,
        "novelty": len(distinct - training) / len(distinct) if distinct else 0.0,
        "stable_share": stable / len(distinct) if distinct else 0.0,
    }


def reconstruction_accuracy(decoded: Sequence[str | None], targets: Sequence[str]) -> float:
    if len(decoded) != len(targets):
        raise ValueError(f"{len(decoded)} decoded molecules for {len(targets)} targets")
    return sum(d == t for d, t in zip(decoded, targets)) / len(targets) if targets else 0.0
