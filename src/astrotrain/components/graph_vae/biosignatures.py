"""Known biosignature and atmospheric gases: the planet gas inventory (also read by fusion).

Roles follow Schwieterman et al. (2018, Astrobiology 18, 663), "Exoplanet biosignatures: a
review of remotely detectable signs of life", and Seager, Bains & Petkowski (2016): `biosignature`
(produced by life in quantity on Earth), `candidate` (proposed, debated), `context` (climate and
false-positive context, abiotic sources dominate). Charged resonance forms (O3, N2O, CO) are
written as RDKit parses them; such gases are outside the graph VAE's neutral space, which
`in_graph_space` reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from .chemistry import rule_violations, unsupported


@dataclass(frozen=True)
class Gas:
    name: str
    formula: str  # Hill notation, as RDKit writes it
    smiles: str
    role: str  # biosignature | candidate | context


GASES: tuple[Gas, ...] = (
    Gas("oxygen", "O2", "O=O", "biosignature"),
    Gas("ozone", "O3", "[O-][O+]=O", "biosignature"),
    Gas("methane", "CH4", "C", "biosignature"),
    Gas("nitrous oxide", "N2O", "[N-]=[N+]=O", "biosignature"),
    Gas("chloromethane", "CH3Cl", "CCl", "biosignature"),
    Gas("dimethyl sulfide", "C2H6S", "CSC", "candidate"),
    Gas("dimethyl disulfide", "C2H6S2", "CSSC", "candidate"),
    Gas("methanethiol", "CH4S", "CS", "candidate"),
    Gas("phosphine", "H3P", "P", "candidate"),
    Gas("ammonia", "H3N", "N", "candidate"),
    Gas("hydrogen sulfide", "H2S", "S", "candidate"),
    Gas("isoprene", "C5H8", "C=CC(=C)C", "candidate"),
    Gas("bromomethane", "CH3Br", "CBr", "candidate"),
    Gas("ethane", "C2H6", "CC", "candidate"),
    Gas("methanol", "CH4O", "CO", "candidate"),
    Gas("carbonyl sulfide", "COS", "O=C=S", "candidate"),
    Gas("carbon dioxide", "CO2", "O=C=O", "context"),
    Gas("carbon monoxide", "CO", "[C-]#[O+]", "context"),
    Gas("water", "H2O", "O", "context"),
    Gas("nitrogen", "N2", "N#N", "context"),
    Gas("hydrogen", "H2", "[H][H]", "context"),
    Gas("sulfur dioxide", "O2S", "O=S=O", "context"),
    Gas("hydrogen cyanide", "CHN", "C#N", "context"),
    Gas("ethylene", "C2H4", "C=C", "context"),
    Gas("acetylene", "C2H2", "C#C", "context"),
)


def gas_table() -> list[dict]:
    """Every gas with its canonical SMILES, heavy-atom count and whether the graph VAE can encode it."""
    from rdkit import Chem

    rows = []
    for gas in GASES:
        mol = Chem.MolFromSmiles(gas.smiles)
        if mol is None:
            raise ValueError(f"biosignature table: SMILES {gas.smiles!r} of {gas.name} does not parse")
        outside = unsupported(mol)
        rows.append({
            "name": gas.name, "formula": gas.formula, "role": gas.role, "smiles": Chem.MolToSmiles(mol),
            "heavy_atoms": mol.GetNumHeavyAtoms(),
            "in_graph_space": outside is None and not rule_violations(mol),
            "why_not": outside or ", ".join(rule_violations(mol)) or None,
        })
    return rows
