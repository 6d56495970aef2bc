"""The enumerated small-molecule space: every stable molecule of up to N heavy atoms of C, N, O, S, P.

The scope of Seager, Bains & Petkowski (2016, Astrobiology 16, 465), "All Small Molecules",
restricted to neutral ground-state valences (`chemistry`). Enumeration is by graph growth with
RDKit canonical SMILES as the identity of a molecule:

* level 1: the five one-atom molecules (CH4, NH3, H2O, H2S, PH3);
* level k + 1: every molecule of level k with one new atom bonded (order 1, 2 or 3) to any atom
  with free valence, closed under "bond two unbonded atoms with order 1, 2 or 3" (within valence).

This is complete: removing a leaf of a spanning tree from a molecule M of k + 1 atoms leaves a
connected molecule of k atoms (a level-k member); the leaf's bonds, each added once with its final
order, rebuild M. Every intermediate is M minus some atoms and bonds, with M's bond orders. The
stability rules are forbidden substructures with fixed bond orders, so a molecule that breaks one
has no stable descendant: it is pruned as soon as it appears, without losing any stable molecule.
(Raising bond orders step by step would not do: O=O would have to pass through the forbidden O–O.)

Cached as `molecules.txt` (canonical SMILES, one per line, sorted by heavy atoms then SMILES) with a
`manifest.json` (counts per heavy-atom number, valences, rules, RDKit version, sha256), written
under a temporary name and renamed into place when complete.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ...fsutil import atomic_directory, atomic_write_json
from ...hashing import sha256_file, sha256_json
from ...timing import one_off
from .chemistry import ELEMENTS, RULES, VALENCE, canonical_smiles, graph_of, quiet_rdkit, rule_violations, used_valence

MOLECULES_FILE = "molecules.txt"
MANIFEST_FILE = "manifest.json"


def enumerate_space(max_atoms: int, progress=None) -> list[list[str]]:
    """Canonical SMILES of every stable molecule, by heavy-atom count: `result[k - 1]` holds those with k atoms."""
    from rdkit import Chem

    quiet_rdkit()
    rejected: set[str] = set()

    def admit(atoms, bonds, known: dict) -> str | None:
        smiles = canonical_smiles(atoms, bonds)
        if smiles is None or smiles in known or smiles in rejected:
            return None
        mol = Chem.MolFromSmiles(smiles)
        if rule_violations(mol):
            rejected.add(smiles)
            return None
        known[smiles] = graph_of(mol)
        return smiles

    def close(seeds: list[str], known: dict) -> None:
        queue = list(seeds)
        while queue:
            atoms, bonds = known[queue.pop()]
            used = used_valence(len(atoms), bonds)
            for i in range(len(atoms)):
                for j in range(i + 1, len(atoms)):
                    free = min(VALENCE[atoms[i]] - used[i], VALENCE[atoms[j]] - used[j], 3)
                    for order in range(1, free + 1) if (i, j) not in bonds else ():
                        new = admit(atoms, {**bonds, (i, j): order}, known)
                        if new:
                            queue.append(new)

    level: dict = {}
    for element in ELEMENTS:
        admit([element], {}, level)
    close(list(level), level)
    levels = [level]
    for k in range(2, max_atoms + 1):
        started, grown = time.perf_counter(), {}
        for atoms, bonds in levels[-1].values():
            used = used_valence(len(atoms), bonds)
            for i in range(len(atoms)):
                for element in ELEMENTS:
                    for order in range(1, min(VALENCE[atoms[i]] - used[i], VALENCE[element], 3) + 1):
                        admit([*atoms, element], {**bonds, (i, len(atoms)): order}, grown)
        close(list(grown), grown)
        levels.append(grown)
        if progress:
            progress(f"  {k} heavy atoms: {len(grown):,} molecules ({time.perf_counter() - started:.1f} s)")
    return [sorted(level) for level in levels]


def space_path(cache_dir: str | Path, max_atoms: int) -> Path:
    """The cache folder of a recipe; the RDKit version is part of it (canonical SMILES, hence the
    sorted order the seeded draws pick from, may change between RDKit releases)."""
    import rdkit

    recipe = {"max_atoms": max_atoms, "elements": ELEMENTS, "valence": VALENCE, "rules": RULES, "version": 2, "rdkit": rdkit.__version__}
    return Path(cache_dir) / f"space-n{max_atoms}-{sha256_json(recipe)[:10]}"


def ensure_space(cache_dir: str | Path, max_atoms: int, progress=None) -> Path:
    """The cached space for `max_atoms`, enumerated first if it is not there; returns its folder."""
    import rdkit

    path = space_path(cache_dir, max_atoms)
    if (path / MANIFEST_FILE).is_file():
        return path
    if progress:
        progress(f"enumerating molecules of up to {max_atoms} heavy atoms (once; cached at {path})")
    started = time.perf_counter()
    with one_off("molecule space enumeration"):
        levels = enumerate_space(max_atoms, progress)
    with atomic_directory(path) as tmp:
        (tmp / MOLECULES_FILE).write_text("".join(f"{s}\n" for level in levels for s in level))
        atomic_write_json(tmp / MANIFEST_FILE, {
            "kind": "astrotrain.molecule_space",
            "max_atoms": max_atoms,
            "count": sum(len(level) for level in levels),
            "count_by_heavy_atoms": {str(k + 1): len(level) for k, level in enumerate(levels)},
            "elements": list(ELEMENTS),
            "valence": VALENCE,
            "rules": list(RULES),
            "rdkit_version": rdkit.__version__,
            "enumeration_s": round(time.perf_counter() - started, 1),
            "sha256": sha256_file(tmp / MOLECULES_FILE),
        })
    return path


def read_space(path: Path) -> tuple[list[str], dict]:
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    return (path / MOLECULES_FILE).read_text().split(), manifest
