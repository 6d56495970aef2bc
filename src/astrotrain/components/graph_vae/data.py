"""Molecules for the graph VAE: the enumerated space (default) or a user SMILES file (`data.smiles`).

A SMILES file has one molecule per line (`SMILES [name ...]`; blank lines and `#` comments are
skipped). Lines that do not parse, use unsupported elements, charges, radicals or hypervalent
atoms, or exceed `max_atoms` heavy atoms are reported with their line number and skipped; the run
goes on with the rest. Molecules are de-duplicated by canonical SMILES, drawn (seeded) down to
`max_molecules`, split at random by molecule into train/val/test, and stored as dense canonical
tensors (`chemistry.to_tensors`).
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...data.splits import planet_splits, treatment_record
from ...data.tensors import PlanetTensors, SplitDataModule
from ...errors import UserError
from .chemistry import quiet_rdkit, rule_violations, to_tensors, unsupported
from .space import ensure_space, read_space

SHOWN_PROBLEMS = 20  # lines printed per file; all are in the run's normalisation.json


@dataclass
class SmilesReport:
    path: str
    lines: int = 0
    kept: int = 0
    duplicates: int = 0
    outside_rules: int = 0  # kept, but breaking a stability rule
    skipped: Counter = field(default_factory=Counter)  # reason → count
    problems: list[dict] = field(default_factory=list)  # {line, smiles, reason}

    def as_dict(self) -> dict:
        return {"path": self.path, "lines": self.lines, "kept": self.kept, "duplicates": self.duplicates,
                "outside_stability_rules": self.outside_rules, "skipped": dict(self.skipped), "problems": self.problems}


def read_smiles_file(path: str | Path, max_atoms: int) -> tuple[list[str], SmilesReport]:
    """Canonical SMILES of the usable molecules of a file, in file order, and what was skipped and why."""
    from rdkit import Chem

    quiet_rdkit()
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data.smiles: SMILES file {path} not found; give a text file with one SMILES per line")
    report, seen, kept = SmilesReport(str(path)), set(), []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        report.lines += 1
        smiles = text.split()[0]
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            reason, kind = "invalid SMILES (RDKit cannot parse it)", "invalid"
        elif (why := unsupported(mol)) is not None:
            reason, kind = why, why.split(" ")[0].rstrip(":") if why.startswith(("unsupported", "charged", "radical", "isotope", "fragment")) else "valence"
        elif mol.GetNumHeavyAtoms() > max_atoms:
            reason, kind = f"{mol.GetNumHeavyAtoms()} heavy atoms > components.graph_vae.max_atoms = {max_atoms}", "too_large"
        else:
            canonical = Chem.MolToSmiles(mol, isomericSmiles=False)  # the graph has no stereochemistry
            if canonical in seen:
                report.duplicates += 1
            else:
                seen.add(canonical)
                kept.append(canonical)
                report.outside_rules += bool(rule_violations(Chem.MolFromSmiles(canonical)))
            continue
        report.skipped[kind] += 1
        report.problems.append({"line": number, "smiles": smiles, "reason": reason})
    report.kept = len(kept)
    return kept, report


def print_report(report: SmilesReport) -> None:
    for problem in report.problems[:SHOWN_PROBLEMS]:
        print(f"warning: {report.path}:{problem['line']}: {problem['smiles']!r} skipped: {problem['reason']}", file=sys.stderr)
    n_skipped = sum(report.skipped.values())
    if n_skipped:
        more = f" ({n_skipped - SHOWN_PROBLEMS} more not shown)" if n_skipped > SHOWN_PROBLEMS else ""
        counts = ", ".join(f"{kind} {n}" for kind, n in report.skipped.most_common())
        print(f"warning: {report.path}: skipped {n_skipped} of {report.lines} lines ({counts}){more}", file=sys.stderr)


class MoleculeDataModule(SplitDataModule):
    def __init__(self, cfg, smiles_path: str | None, split, num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.cfg, self.smiles_path, self.split, self.num_workers, self.seed = cfg, smiles_path, split, num_workers, seed
        self.batch_size = cfg.batch_size
        self.smiles: dict[str, list[str]] = {}
        self.datasets: dict[str, PlanetTensors] = {}
        self.indices: dict[str, np.ndarray] = {}
        self.source: dict = {}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        cfg = self.cfg
        if self.smiles_path:
            molecules, report = read_smiles_file(self.smiles_path, cfg.max_atoms)
            print_report(report)
            self.source = {"smiles_file": report.as_dict()}
        else:
            path = ensure_space(cfg.cache_dir, cfg.max_atoms, progress=print)
            molecules, manifest = read_space(path)
            self.source = {"space": {"path": str(path), **{k: manifest[k] for k in ("count", "count_by_heavy_atoms", "rules", "sha256")}}}
        if len(molecules) < 3:
            raise UserError(f"{self.smiles_path or 'the molecule space'}: {len(molecules)} usable molecule(s); "
                            f"training needs at least 3 (one per split)")
        if cfg.max_molecules and len(molecules) > cfg.max_molecules:
            chosen = np.sort(np.random.default_rng(self.split.seed).choice(len(molecules), cfg.max_molecules, replace=False))
            molecules = [molecules[i] for i in chosen]
        self.source["molecules_used"] = len(molecules)
        self.indices = planet_splits(len(molecules), self.split.train, self.split.val, self.split.seed)
        atoms, bonds = zip(*(to_tensors(s, cfg.max_atoms) for s in molecules))
        full = PlanetTensors(atoms=torch.from_numpy(np.stack(atoms)), bonds=torch.from_numpy(np.stack(bonds)))
        self.smiles = {name: [molecules[i] for i in idx] for name, idx in self.indices.items()}
        self.datasets = {name: full.subset(idx) for name, idx in self.indices.items()}

    def treatment(self) -> dict:
        self.setup()
        record = treatment_record(self.indices, {"note": "molecules are categorical graphs: nothing is normalised"})
        return {**record, "sources": [self.source]}


def build_datamodule(cfg, universe=None) -> MoleculeDataModule:
    return MoleculeDataModule(cfg.components.graph_vae, cfg.data.smiles, cfg.data.split, cfg.data.num_workers, cfg.run.seed)
