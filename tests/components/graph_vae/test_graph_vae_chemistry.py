"""Chemistry of the graph VAE: the enumerated space against hand counts and brute force, the
stability rules, the biosignature table, canonical order and tensors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from astrotrain.components.graph_vae import chemistry
from astrotrain.components.graph_vae.biosignatures import GASES, gas_table
from astrotrain.components.graph_vae.space import enumerate_space


@pytest.fixture(scope="module")
def space4():
    return enumerate_space(4)


def test_one_and_two_heavy_atoms_by_hand(space4):
    # one atom: CH4, NH3, H2O, H2S, PH3
    assert space4[0] == ["C", "N", "O", "P", "S"]
    # two atoms: each element pair bonded with every order up to the smaller valence (max 3),
    # minus HO–OH (the peroxide rule); O=O, dioxygen, stays
    valence = {"C": 4, "N": 3, "O": 2, "S": 2, "P": 3}
    pairs = list(itertools.combinations_with_replacement("CNOSP", 2))
    assert sum(min(valence[a], valence[b], 3) for a, b in pairs) - 1 == 35 == len(space4[1])
    assert "O=O" in space4[1] and "OO" not in space4[1]
    assert {"C#C", "C=C", "CC", "N#N", "C#N", "C=O", "CO", "CS", "O=S", "P#P"} <= set(space4[1])


def brute_force(n_atoms: int) -> set[str]:
    """Every assignment of elements and bond orders to n labelled atoms; keep connected, within
    valence, sanitisable, stable molecules — an enumeration independent of the growth algorithm."""
    pairs = list(itertools.combinations(range(n_atoms), 2))
    found = set()
    for elements in itertools.product(chemistry.ELEMENTS, repeat=n_atoms):
        for orders in itertools.product(range(4), repeat=len(pairs)):
            bonds = {pair: o for pair, o in zip(pairs, orders) if o}
            used = chemistry.used_valence(n_atoms, bonds)
            if any(u > chemistry.VALENCE[e] for u, e in zip(used, elements)) or not chemistry.is_connected(n_atoms, bonds):
                continue
            mol = chemistry.mol_from_graph(elements, bonds)
            if mol is not None and not chemistry.rule_violations(mol):
                found.add(chemistry.canonical_smiles(elements, bonds))
    return found


def test_three_heavy_atoms_match_brute_force(space4):
    assert set(space4[2]) == brute_force(3)
    assert len(space4[2]) == 205


@pytest.mark.parametrize(
    ("smiles", "broken"),
    [
        ("OO", ["peroxide"]),
        ("O=O", []),
        ("COOC", ["peroxide"]),
        ("C1CC1", []),
        ("C1=CC1", ["small_ring_unsaturation"]),
        ("C1=CCC1", ["small_ring_unsaturation"]),
        ("C1=CCCC1", []),
        ("c1ccccc1", []),  # benzene: one double bond per ring atom in Kekulé form
        ("C1#CCCCC1", ["ring_triple_or_cumulated"]),
        ("C1=C=CCCC1", ["ring_triple_or_cumulated"]),
        ("C=C=C", []),  # allene outside a ring is fine
        ("C1#CCCCCCC1", []),  # cyclooctyne: isolable
        ("c1ccc2c(c1)CC2", ["small_ring_unsaturation"]),  # benzocyclobutene, in every Kekulé drawing:
        ("Cc1ccc2c(c1)CC2", ["small_ring_unsaturation"]),
        ("Cc1cccc2c1CC2", ["small_ring_unsaturation"]),
        ("N1NN1", []),  # saturated, although RDKit calls the ring aromatic
    ],
)
def test_stability_rules(smiles, broken):
    from rdkit import Chem

    assert chemistry.rule_violations(Chem.MolFromSmiles(smiles)) == broken


def test_every_biosignature_parses_with_its_formula():
    from rdkit import Chem
    from rdkit.Chem.rdMolDescriptors import CalcMolFormula

    for gas in GASES:
        mol = Chem.MolFromSmiles(gas.smiles)
        assert mol is not None, gas.name
        assert CalcMolFormula(mol) == gas.formula, gas.name
    rows = {row["name"]: row for row in gas_table()}
    assert len(rows) == len(GASES) >= 20
    for name in ("oxygen", "methane", "dimethyl sulfide", "phosphine", "isoprene", "ammonia", "water"):
        assert rows[name]["in_graph_space"], name
    assert "hypervalent" in rows["sulfur dioxide"]["why_not"]
    assert "Cl" in rows["chloromethane"]["why_not"] and "charged" in rows["ozone"]["why_not"]


def test_canonical_order_is_input_independent_and_connected():
    for a, b in (("OCC(N)=O", "NC(=O)CO"), ("C1=CC=CC=C1O", "Oc1ccccc1"), ("CSC", "S(C)C")):
        atoms_a, bonds_a = chemistry.to_tensors(a, 7)
        atoms_b, bonds_b = chemistry.to_tensors(b, 7)
        np.testing.assert_array_equal(atoms_a, atoms_b)
        np.testing.assert_array_equal(bonds_a, bonds_b)
        n = int((atoms_a != chemistry.NO_ATOM).sum())
        assert all(bonds_a[k, :k].any() for k in range(1, n))  # every atom bonds to an earlier one
        assert np.all(bonds_a == bonds_a.T) and np.all(atoms_a[n:] == chemistry.NO_ATOM)


def test_tensors_round_trip_the_whole_space(space4):
    for level in space4:
        for smiles in level:
            atoms, bonds = chemistry.to_tensors(smiles, 4)
            assert chemistry.canonical_smiles(*chemistry.from_tensors(atoms, bonds)) == smiles
