"""Property-based bad input (issue #12): random corruptions of the master config and of data files.

Config: a random leaf of the resolved master config gets a value of the wrong type, a value past
its bound, or a misspelt sibling key — `train.py` must exit 2 naming that key, with no traceback
and no run directory. Data: random byte flips and truncations of a NetCDF GCM file, of the NASA
archive CSV export and of a SMILES file — a clear error (UserError) or rows/values reported,
never a crash.
"""

from __future__ import annotations

import contextlib
import io
import types
import typing
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from astrotrain.cli import main
from astrotrain.config.schema import MasterConfig
from astrotrain.errors import UserError
from tests.conftest import ROOT

MASTER = ROOT / "config" / "master_training.yaml"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def scalar_leaves(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    """(path, FieldInfo) of every int / float / bool setting (optional or not), recursing into sections."""
    out = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1
        base = args[0] if optional else annotation  # int | None → int
        if isinstance(base, type) and issubclass(base, BaseModel):
            out += scalar_leaves(base, prefix + (name,))
        elif base in (int, float, bool):
            out.append((prefix + (name,), field))
    return out


LEAVES = scalar_leaves(MasterConfig)
SECTIONS = sorted({path[:-1] for path, _ in LEAVES if path[:-1]})


def bounds(field) -> dict:
    found = {}
    for meta in field.metadata:
        for key in ("ge", "gt", "le", "lt"):
            if getattr(meta, key, None) is not None:
                found[key] = getattr(meta, key)
    return found


@st.composite
def corruptions(draw):
    """(kind, dotted key the error must name, the override that corrupts it)."""
    kind = draw(st.sampled_from(["type", "range", "unknown"]))
    if kind == "unknown":
        section = draw(st.sampled_from(SECTIONS))
        name = draw(st.sampled_from(["learning_rate", "epochs", "lr_rate", "batchsize", "seeed", "zzz"]))
        key = ".".join(section + (name,))
        return kind, key, f"{key}=1"
    path, field = draw(st.sampled_from(LEAVES))
    key = ".".join(path)
    limits = bounds(field)
    if kind == "range" and limits and field.annotation is not bool:
        side = draw(st.sampled_from(sorted(limits)))
        value = limits[side]
        beyond = {"ge": value - 1, "gt": value, "le": value + 1, "lt": value}[side]
        if side in ("ge", "le") and isinstance(value, float):
            beyond = value - abs(value) - 1e-3 if side == "ge" else value + abs(value) + 1e-3
        return "range", key, f"{key}={beyond!r}"
    bad = draw(st.sampled_from(["'not a number'", "[1, 2]", "{a: 1}"]))
    if field.annotation is bool or typing.get_args(field.annotation) == (bool, type(None)):
        bad = draw(st.sampled_from(["'maybe'", "[true]", "3.5"]))
    return "type", key, f"{key}={bad}"


@FUZZ
@given(corruption=corruptions())
def test_a_corrupted_master_config_exits_2_naming_the_key_and_writes_nothing(tmp_path_factory, corruption):
    kind, key, override = corruption
    out = tmp_path_factory.mktemp("fuzz")
    config = yaml.safe_load(MASTER.read_text())
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["--config", str(MASTER), f"run.output_dir={out / 'runs'}", override])
    text = stderr.getvalue()
    assert rc == 2, (override, text)
    assert key in text, (override, text)
    assert "Traceback" not in text
    assert not (out / "runs").exists() or not any((out / "runs").iterdir())
    assert config == yaml.safe_load(MASTER.read_text())  # the file itself is never touched


# --- data files ----------------------------------------------------------------------------------
def corrupt(data: bytes, flips: list[tuple[int, int]], cut: float | None) -> bytes:
    out = bytearray(data)
    for position, mask in flips:
        out[position % len(out)] ^= mask
    if cut is not None:
        out = out[: int(len(out) * cut)]
    return bytes(out)


damage = st.tuples(st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 255)), max_size=12),
                   st.one_of(st.none(), st.floats(0.0, 1.0)))


def damaged(tmp_path_factory, clean: Path, hit) -> Path:
    """A corrupted copy of `clean` in a fresh folder (same name)."""
    path = tmp_path_factory.mktemp("damaged") / clean.name
    path.write_bytes(corrupt(clean.read_bytes(), *hit))
    return path


@pytest.fixture(scope="module")
def clean_files(tmp_path_factory):
    from tests.data.test_gcm import exocam_dataset

    folder = tmp_path_factory.mktemp("clean")
    exocam_dataset().to_netcdf(folder / "run.nc")
    (folder / "planets.csv").write_text(
        "# COLUMN pl_name: Planet Name\n"
        "pl_name,pl_orbper,pl_rade,pl_bmasse,pl_insol,st_teff,st_rad,st_mass,pl_orbsmax\n"
        "TRAPPIST-1 e,6.101013,0.92,0.692,0.646,2566,0.1192,0.0898,0.02925\n"
        "Proxima Cen b,11.18427,1.07,1.07,0.65,2900,0.141,0.12,0.04856\n"
        "LHS 1140 b,24.73723,1.73,5.60,0.43,3096,0.2159,0.1844,0.0946\n")
    (folder / "gases.smi").write_text("O\nC\nO=C=O\nN\nCC\nC=C\nOO\nS\nCO\nC#N\n")
    return folder


@FUZZ
@given(hit=damage)
def test_a_corrupted_netcdf_file_is_a_clear_error_or_reads(tmp_path_factory, clean_files, hit):
    from astrotrain.data.gcm import open_gcm
    from astrotrain.data.gcm_write import check_values
    from tests.data.test_gcm import mapping

    path = damaged(tmp_path_factory, clean_files / "run.nc", hit)
    try:
        problems = check_values(open_gcm(path, mapping()))  # reading every value: a damaged chunk surfaces here
    except UserError as exc:
        assert path.name in exc.message
        return
    assert all({"variable", "check", "count"} <= set(p) for p in problems)  # damage that reads as numbers: reported, if unphysical


@FUZZ
@given(hit=damage)
def test_a_corrupted_archive_csv_is_a_clear_error_or_every_row_is_accounted_for(tmp_path_factory, clean_files, hit):
    from astrotrain.data.mapping import map_archive
    from astrotrain.data.nasa import read_archive_csv

    path = damaged(tmp_path_factory, clean_files / "planets.csv", hit)
    try:
        table = read_archive_csv(path)
    except UserError as exc:
        assert "planets.csv" in exc.message
        return
    mapped = map_archive(table.frame, {"P0": 1.0, "CO2": 4e-4, "CH4": 1.7e-6})
    assert len(mapped.inputs) + len(mapped.rejected) == len(table.frame)  # no row silently dropped


@FUZZ
@given(hit=damage)
def test_a_corrupted_smiles_file_is_reported_line_by_line(tmp_path_factory, clean_files, hit):
    from astrotrain.components.graph_vae.data import read_smiles_file

    path = damaged(tmp_path_factory, clean_files / "gases.smi", hit)
    try:
        molecules, report = read_smiles_file(path, max_atoms=6)
    except UserError as exc:
        assert "gases.smi" in exc.message
        return
    assert report.lines == len(molecules) + report.duplicates + sum(report.skipped.values())  # every line accounted for
    assert len(report.problems) == sum(report.skipped.values()) and all(p["line"] >= 1 and p["reason"] for p in report.problems)
    assert all(isinstance(m, str) and m for m in molecules)
