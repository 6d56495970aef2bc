"""The graph VAE: masked decoding is always valid, metrics against hand counts, user SMILES files, the smoke run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from astrotrain.components.graph_vae import metrics
from astrotrain.components.graph_vae.chemistry import ELEMENTS, NO_ATOM, VALENCE
from astrotrain.components.graph_vae.data import read_smiles_file
from astrotrain.components.graph_vae.model import GraphVAE, decode_argmax, decode_masked
from tests.conftest import cli_env, run_cli, smoke_args


def test_masked_decoding_is_valid_on_random_latents_and_wild_logits():
    torch.manual_seed(0)
    model = GraphVAE(max_atoms=6, node_dim=16, hidden=64, latent_dim=8)
    for scale in (1.0, 30.0):  # an untrained decoder, then logits scaled far from anything trained
        atom_logits, bond_logits = model.decode(torch.randn(2000, 8))
        atoms, bonds = decode_masked(atom_logits * scale, bond_logits * scale)
        smiles = metrics.smiles_of_graphs(atoms, bonds)
        assert all(s is not None for s in smiles)
        # no atom exceeds its valence, bonds are symmetric
        valence = torch.tensor([VALENCE[e] for e in ELEMENTS] + [0])
        assert torch.all(bonds.sum(dim=2) <= valence[atoms]) and torch.equal(bonds, bonds.transpose(1, 2))
    # the same logits without the mask: many invalid graphs (what the mask is for)
    plain = metrics.smiles_of_graphs(*decode_argmax(atom_logits * scale, bond_logits * scale))
    assert sum(s is None for s in plain) > 100


def test_masked_decoding_follows_the_logits_where_they_are_valid():
    # logits that spell ethanol C–C–O in slots 0..2 and nothing after
    atom_logits = torch.full((1, 4, NO_ATOM + 1), -5.0)
    for slot, kind in enumerate([0, 0, 2, NO_ATOM]):
        atom_logits[0, slot, kind] = 5.0
    bond_logits = torch.full((1, 4, 4, 4), -5.0)
    bond_logits[..., 0] = 5.0
    for i, j in ((0, 1), (1, 2)):
        bond_logits[0, i, j, 0] = bond_logits[0, j, i, 0] = -5.0
        bond_logits[0, i, j, 1] = bond_logits[0, j, i, 1] = 5.0
    assert metrics.smiles_of_graphs(*decode_masked(atom_logits, bond_logits)) == ["CCO"]
    # ask most for a triple bond to O, next for a double: the mask takes the best order O's valence allows
    bond_logits[0, 1, 2, 3] = bond_logits[0, 2, 1, 3] = 9.0
    bond_logits[0, 1, 2, 2] = bond_logits[0, 2, 1, 2] = 7.0
    assert metrics.smiles_of_graphs(*decode_masked(atom_logits, bond_logits)) == ["CC=O"]
    assert metrics.smiles_of_graphs(*decode_argmax(atom_logits, bond_logits)) == [None]


def test_metrics_on_a_toy_set_by_hand():
    generated = ["CCO", "CCO", None, "C=O", "OO"]
    m = metrics.generation_metrics(generated, training={"CCO", "N"})
    assert m["validity"] == pytest.approx(4 / 5)
    assert m["uniqueness"] == pytest.approx(3 / 4)  # CCO, C=O, OO
    assert m["novelty"] == pytest.approx(2 / 3)  # C=O and OO are not in training
    assert m["stable_share"] == pytest.approx(2 / 3)  # OO is a peroxide
    assert metrics.reconstruction_accuracy(["C", None, "CO"], ["C", "N", "CC"]) == pytest.approx(1 / 3)
    assert metrics.generation_metrics([None, None], training=set())["validity"] == 0.0
    # a graph of two unbonded atoms is not one molecule
    atoms = torch.tensor([[0, 0, NO_ATOM]])
    assert metrics.smiles_of_graphs(atoms, torch.zeros(1, 3, 3, dtype=torch.long)) == [None]


SMILES_FILE = """# a user's molecules
CCO ethanol
C1CC
CCl
[NH4+]
CCCCCCC
OCC
c1ccccc1O
[CH3]

O=S=O
OO
"""


def test_smiles_file_reports_each_bad_line_and_keeps_the_rest(tmp_path):
    path = tmp_path / "mine.smi"
    path.write_text(SMILES_FILE)
    kept, report = read_smiles_file(path, max_atoms=7)
    assert kept == ["CCO", "CCCCCCC", "Oc1ccccc1", "OO"]
    assert report.duplicates == 1 and report.outside_rules == 1 and report.lines == 10
    assert {p["line"]: p["smiles"] for p in report.problems} == {3: "C1CC", 4: "CCl", 5: "[NH4+]", 9: "[CH3]", 11: "O=S=O"}
    assert dict(report.skipped) == {"invalid": 1, "unsupported": 1, "charged": 1, "radical": 1, "valence": 1}
    kept, report = read_smiles_file(path, max_atoms=6)
    assert "CCCCCCC" in [p["smiles"] for p in report.problems] and report.skipped["too_large"] == 2  # heptane, phenol


def test_smiles_file_fragments_isotopes_hidden_hypervalence_and_stereo(tmp_path):
    path = tmp_path / "odd.smi"
    path.write_text("CC.O\n[2H]O[2H]\nO=[SH2]\nC/C=C/C\nC/C=C\\C\n")
    kept, report = read_smiles_file(path, max_atoms=6)
    assert kept == ["CC=CC"] and report.duplicates == 1  # cis and trans: one graph
    assert dict(report.skipped) == {"fragment": 1, "isotope": 1, "valence": 1}


@pytest.mark.slow
def test_smoke_run_on_the_enumerated_space_and_on_a_smiles_file(tmp_path, data_cache):
    res = run_cli(smoke_args(tmp_path, data_cache, "--component", "graph_vae", f"components.graph_vae.cache_dir={data_cache}/molecules"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (run,) = (tmp_path / "runs").iterdir()
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert test["validity_masked"] == 1.0
    assert test["validity_unmasked"] < 1.0
    assert test["reconstruction"] > 0.8 and test["uniqueness_masked"] > 0.5
    provenance = json.loads((run / "provenance.json").read_text())
    space = provenance["data"]["sources"][0]["space"]
    assert space["count"] == 2033 and space["count_by_heavy_atoms"] == {"1": 5, "2": 35, "3": 205, "4": 1788}
    # `astrotrain evaluate` re-tests the checkpoint without building a planet universe it never reads
    fresh_cache = tmp_path / "no-universe-here"
    config = run / "config.yaml"
    config.write_text(config.read_text().replace(str(data_cache), str(fresh_cache)))
    evaluated = subprocess.run([sys.executable, "-m", "astrotrain", "evaluate", str(run)], cwd=tmp_path, env=cli_env(), capture_output=True, text=True)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads((run / "evaluation.json").read_text())["test"]["reconstruction"] == test["reconstruction"]
    assert not (fresh_cache / "universe").exists() and not list(fresh_cache.glob("universe-*"))

    # user data through the same door, with the flag spelling of the issue
    smi = tmp_path / "user.smi"
    smi.write_text(SMILES_FILE + "".join(f"{s}\n" for s in ["CC", "CN", "CS", "C=O", "C#N", "NN", "CCC", "CCN", "OCO"]))
    res = run_cli(smoke_args(tmp_path / "user", data_cache, "--component", "graph_vae", "--data.smiles", str(smi),
                             "components.graph_vae.max_epochs=2"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "user.smi:3: 'C1CC' skipped: invalid SMILES" in res.stderr
    assert "skipped 7 of 19 lines (too_large 2, invalid 1" in res.stderr  # heptane, phenol > 4 heavy atoms


def test_missing_smiles_file_is_a_clear_error(tmp_path):
    res = run_cli(smoke_args(tmp_path, tmp_path / "cache", "--component", "graph_vae", "--data.smiles", str(tmp_path / "none.smi")), cwd=tmp_path)
    assert res.returncode == 2 and "data.smiles: SMILES file" in res.stderr and "none.smi not found" in res.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
