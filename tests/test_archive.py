"""NASA Exoplanet Archive: the export reader, the TAP client and cache, and the mapping to CLERO inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from astrotrain.cli import main
from astrotrain.data import nasa
from astrotrain.data.mapping import SOLAR_CONSTANT, instellation, map_archive, mass_from_radius, radius_from_mass
from astrotrain.errors import UserError

from .conftest import NASA_SNAPSHOT, SMOKE, needs_nasa_snapshot

SNAPSHOT, needs_snapshot = NASA_SNAPSHOT, needs_nasa_snapshot
EARTHLIKE = {"P0": 1.0, "CO2": 4e-4, "CH4": 0.0}
HEADER = "# This file was produced by the NASA Exoplanet Archive\n# COLUMN pl_name: Planet Name\n# COLUMN pl_insol: Insolation Flux [Earth Flux]\n#\n"
COLUMNS = "pl_name,hostname,discoverymethod,pl_orbper,pl_orbsmax,pl_rade,pl_bmasse,pl_insol,pl_eqt,st_teff,st_rad,st_mass,sy_dist\n"


def write_export(path: Path, *rows: str, columns: str = COLUMNS) -> Path:
    path.write_text(HEADER + columns + "".join(r + "\n" for r in rows))
    return path


@needs_snapshot
def test_snapshot_reads_whole_and_maps_known_planets():
    archive = nasa.read_archive_csv(SNAPSHOT)
    assert len(archive.frame) == 5766 and archive.rejected == []
    assert archive.descriptions["pl_insol"] == "Insolation Flux [Earth Flux]"
    mapped = map_archive(archive.frame, EARTHLIKE)
    e = mapped.inputs.set_index("pl_name").loc["TRAPPIST-1 e"]
    assert e["gravity"] == pytest.approx(9.81 * 0.692 / 0.92**2)  # 8.02 m/s²
    assert e["F_star"] == pytest.approx(0.65 * 1361) and e["T_star"] == 2566 and e["P_rot"] == pytest.approx(6.101013)
    assert e["imputed"] == "" and e["in_core_domain"] and e["in_extended_domain"]
    # the snapshot's planets in CLERO's domains (with the Earth-like default atmosphere)
    assert int(mapped.inputs["in_core_domain"].sum()) == 14
    assert int(mapped.inputs["in_extended_domain"].sum()) == 101
    assert len(mapped.inputs) + len(mapped.rejected) == 5766  # none dropped silently
    reasons = [r["reason"] for r in mapped.rejected]
    assert sum("no st_teff" in r for r in reasons) == 239
    assert sum("neither pl_rade nor pl_bmasse" in r for r in reasons) == 7
    assert all(r["line"] > 88 for r in mapped.rejected)  # each names its line in the file


def test_garbage_rows_and_values_are_reported_with_line_numbers(tmp_path):
    path = write_export(
        tmp_path / "export.csv",
        "Good b,Good,Transit,10.0,0.05,1.0,1.0,0.9,250,3000,0.2,0.2,10",
        "Short b,Short,Transit,10.0",
        "Odd b,Odd,Transit,abc,0.05,1.0,1.0,0.9,250,3000,0.2,0.2,10",
    )
    archive = nasa.read_archive_csv(path)
    assert list(archive.frame["pl_name"]) == ["Good b", "Odd b"]
    assert archive.rejected == [
        {"line": 7, "reason": "expected 13 fields, got 4"},
        {"line": 8, "column": "pl_orbper", "value": "abc", "reason": "not a number; treated as missing"},
    ]
    mapped = map_archive(archive.frame, EARTHLIKE)
    odd = mapped.inputs.set_index("pl_name").loc["Odd b"]
    assert odd["imputed"] == "P_rot"  # from clero.orbital_period


def test_missing_columns_name_them(tmp_path):
    path = write_export(tmp_path / "x.csv", "A b,1.0", columns="pl_name,pl_rade\n")
    with pytest.raises(UserError, match=r"lacks required columns \['pl_orbper', 'pl_bmasse', 'pl_insol', 'st_teff'\]"):
        nasa.read_archive_csv(path)


def test_mapping_physics_and_imputations():
    # the Sun-Earth analogue: 1 R☉, 5772 K, 1 AU → exactly the solar constant
    assert instellation(5772.0, 1.0, 1.0, np.nan, np.nan) == pytest.approx(SOLAR_CONSTANT)
    # Kepler: 1 M☉ and a 365.25-day orbit is 1 AU
    assert instellation(5772.0, 1.0, np.nan, 365.25, 1.0) == pytest.approx(SOLAR_CONSTANT)
    assert radius_from_mass(1.0) == pytest.approx(1.008)  # Chen & Kipping (2017), Terran
    masses = np.array([0.1, 1.0, 2.0, 5.0, 17.0, 100.0])
    np.testing.assert_allclose(mass_from_radius(radius_from_mass(masses)), masses, rtol=1e-9)
    assert np.isnan(mass_from_radius(20.0))  # Jovian radii do not constrain the mass


def test_offline_without_cache_names_the_cache_path(tmp_path, capsys):
    with pytest.raises(UserError, match=f"no NASA Exoplanet Archive cache at {tmp_path / 'pscomppars'}"):
        nasa.fetch_nasa(tmp_path, offline=True)
    code = main(["data", "fetch", "nasa", "--offline", "--config", str(SMOKE), f"data.archive.cache_dir={tmp_path}"])
    assert code == 2 and "astrotrain data fetch nasa" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_unreachable_archive_falls_back_to_the_cache_and_says_so(tmp_path, capsys):
    export = write_export(tmp_path / "export.csv", "Good b,Good,Transit,10.0,0.05,1.0,1.0,0.9,250,3000,0.2,0.2,10")
    cache = tmp_path / "cache"
    assert main(["data", "fetch", "nasa", "--from-csv", str(export), "--config", str(SMOKE), f"data.archive.cache_dir={cache}"]) == 0
    manifest = json.loads((cache / "pscomppars" / "manifest.json").read_text())
    assert manifest["rows"] == 1 and manifest["source"] == "export" and len(manifest["sha256"]) == 64
    capsys.readouterr()
    # a real pyvo query against a closed local port fails at once: the cache answers, and says so
    args = ["data", "fetch", "nasa", "--no-progress", "--config", str(SMOKE), f"data.archive.cache_dir={cache}",
            "data.archive.tap_url=http://127.0.0.1:9/TAP", "data.archive.timeout_s=5"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "not reachable" in out and "offline: using the cached table" in out and "(1 planets" in out
    assert list(nasa.load_cached(cache)["pl_name"]) == ["Good b"]


def test_tap_results_are_cached_with_a_manifest_and_empty_results_write_nothing(tmp_path):
    from astropy.table import Table

    rows = {c: [1.0] for c in nasa.COLUMNS}
    rows.update(pl_name=["X b"], hostname=["X"], discoverymethod=["Transit"])
    said = []
    target = nasa.fetch_nasa(tmp_path, run_query=lambda url, query, timeout: Table(rows), say=said.append)
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["query"] == "SELECT " + ", ".join(nasa.COLUMNS) + " FROM pscomppars"
    assert manifest["rows"] == 1 and manifest["source"] == "tap"
    assert said == [f"fetched 1 planets from {nasa.TAP_URL} into {target}"]
    empty = tmp_path / "empty"
    with pytest.raises(UserError, match="the TAP query returned no rows"):
        nasa.fetch_nasa(empty, run_query=lambda url, query, timeout: Table({c: [] for c in nasa.COLUMNS}))
    assert not empty.exists() or not any(empty.iterdir())
    with pytest.raises(UserError, match="lacks required columns"):
        nasa.fetch_nasa(empty, run_query=lambda url, query, timeout: Table({"pl_name": ["X b"]}))


def test_corrupted_cache_is_refused(tmp_path):
    export = write_export(tmp_path / "export.csv", "Good b,Good,Transit,10.0,0.05,1.0,1.0,0.9,250,3000,0.2,0.2,10")
    nasa.import_export(export, tmp_path / "c", say=lambda _: None)
    table = tmp_path / "c" / "pscomppars" / "table.csv"
    table.write_text(table.read_text().replace("Good b", "Evil b"))
    with pytest.raises(UserError, match="does not match its manifest"):
        nasa.load_cached(tmp_path / "c")


def test_an_export_without_the_optional_columns_still_maps(tmp_path):
    path = write_export(tmp_path / "minimal.csv", "A b,10.0,1.0,1.0,0.9,3000", "B b,,1.0,1.0,,3000",
                        columns="pl_name,pl_orbper,pl_rade,pl_bmasse,pl_insol,st_teff\n")
    mapped = map_archive(nasa.read_archive_csv(path).frame, EARTHLIKE)
    assert list(mapped.inputs["pl_name"]) == ["A b"]
    assert mapped.rejected == [{"pl_name": "B b", "line": 7, "reason": "no pl_insol, and st_rad with pl_orbsmax (or pl_orbper with st_mass) to derive it"}]
