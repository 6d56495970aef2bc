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
from tests.conftest import NASA_SNAPSHOT, SMOKE, needs_nasa_snapshot

SNAPSHOT, needs_snapshot = NASA_SNAPSHOT, needs_nasa_snapshot
EARTHLIKE = {"P0": 1.0, "CO2": 4e-4, "CH4": 0.0}
HEADER = "# This file was produced by the NASA Exoplanet Archive\n# COLUMN pl_name: Planet Name\n# COLUMN pl_insol: Insolation Flux [Earth Flux]\n#\n"
COLUMNS = "pl_name,hostname,discoverymethod,pl_orbper,pl_orbsmax,pl_rade,pl_bmasse,pl_insol,pl_eqt,st_teff,st_rad,st_mass,sy_dist\n"


def write_export(path: Path, *rows: str, columns: str = COLUMNS) -> Path:
    path.write_text(HEADER + columns + "".join(r + "\n" for r in rows))
    return path


def raw_snapshot():
    """The snapshot as plain pandas reads it, skipping only the leading `#` block (a field may hold a '#')."""
    import pandas as pd

    with open(SNAPSHOT) as handle:
        header = next(i for i, line in enumerate(handle) if not line.startswith("#"))
    return pd.read_csv(SNAPSHOT, skiprows=header)


def independent_inputs(raw):
    """The 8 CLERO inputs of every archive row, recomputed here from the raw columns by the documented rules
    (the test's own oracle for the mapping: measured values first, then L/a², Kepler, Chen & Kipping)."""
    import clero

    teff, insol = raw["st_teff"].to_numpy(float), raw["pl_insol"].to_numpy(float)
    luminosity = raw["st_rad"].to_numpy(float) ** 2 * (teff / 5772.0) ** 4
    a = np.where(np.isfinite(raw["pl_orbsmax"]), raw["pl_orbsmax"], (raw["st_mass"] * (raw["pl_orbper"] / 365.25) ** 2) ** (1 / 3))
    f_star = np.where(np.isfinite(insol), insol * 1361.0, 1361.0 * luminosity / a**2)
    mass, radius = raw["pl_bmasse"].to_numpy(float), raw["pl_rade"].to_numpy(float)
    radius = np.where(np.isfinite(radius), radius, radius_from_mass(mass))
    mass = np.where(np.isfinite(mass), mass, mass_from_radius(raw["pl_rade"].to_numpy(float)))
    with np.errstate(invalid="ignore", divide="ignore"):
        period = np.where(np.isfinite(raw["pl_orbper"]), raw["pl_orbper"], clero.orbital_period(f_star, teff))
    values = {"T_star": teff, "F_star": f_star, "radius": radius, "gravity": 9.81 * mass / radius**2, "P_rot": period, **EARTHLIKE}
    inside = {}
    for name, domain in (("core", clero.CORE_DOMAIN), ("extended", clero.EXTENDED_DOMAIN)):
        ok = np.ones(len(raw), dtype=bool)
        for key, (lo, hi) in domain.items():
            ok &= (np.asarray(values[key]) >= lo) & (np.asarray(values[key]) <= hi)
        inside[name] = ok
    return values, inside


@needs_snapshot
def test_snapshot_reads_whole_and_maps_known_planets():
    raw = raw_snapshot()
    archive = nasa.read_archive_csv(SNAPSHOT)
    assert len(archive.frame) == len(raw) == 5766 and archive.rejected == []
    assert archive.descriptions["pl_insol"] == "Insolation Flux [Earth Flux]"
    mapped = map_archive(archive.frame, EARTHLIKE)
    e = mapped.inputs.set_index("pl_name").loc["TRAPPIST-1 e"]
    assert e["gravity"] == pytest.approx(9.81 * 0.692 / 0.92**2)  # 8.02 m/s²
    assert e["F_star"] == pytest.approx(0.65 * 1361) and e["T_star"] == 2566 and e["P_rot"] == pytest.approx(6.101013)
    assert e["imputed"] == "" and e["in_core_domain"] and e["in_extended_domain"]
    # the counts follow from the snapshot's own columns, recomputed here independently of the mapping
    values, inside = independent_inputs(raw)
    no_teff, no_size = raw["st_teff"].isna(), raw["pl_rade"].isna() & raw["pl_bmasse"].isna()
    mappable = np.isfinite(values["T_star"]) & np.isfinite(values["F_star"]) & np.isfinite(values["gravity"]) & np.isfinite(values["P_rot"])
    assert len(mapped.inputs) == int(mappable.sum()) and len(mapped.inputs) + len(mapped.rejected) == len(raw)  # none dropped silently
    assert int(mapped.inputs["in_core_domain"].sum()) == int((inside["core"] & mappable).sum())
    assert int(mapped.inputs["in_extended_domain"].sum()) == int((inside["extended"] & mappable).sum())
    assert set(mapped.inputs.loc[mapped.inputs["in_core_domain"], "pl_name"]) == set(raw.loc[inside["core"] & mappable, "pl_name"])
    reasons = [r["reason"] for r in mapped.rejected]
    assert sum("no st_teff" in r for r in reasons) == int(no_teff.sum())
    assert sum("neither pl_rade nor pl_bmasse" in r for r in reasons) == int(no_size.sum())
    assert all(r["line"] > 88 for r in mapped.rejected)  # each names its line in the file


@needs_snapshot
def test_the_archives_caveats_reach_every_planet_they_concern():
    """pl_bmassprov and the limit flags, counted from the snapshot's own columns: every M sin i is flagged as a
    lower bound on gravity (a non-transiting planet's radius as derived), every archive mass-radius mass as imputed."""
    raw = raw_snapshot().set_index("pl_name")
    mapped = map_archive(nasa.read_archive_csv(SNAPSHOT).frame, EARTHLIKE).inputs.set_index("pl_name")
    provenance = raw.loc[mapped.index, "pl_bmassprov"]
    msini = provenance == "Msini"
    assert int(msini.sum()) > 800
    assert mapped.loc[msini, "caveats"].str.contains("M sin i").all() and mapped.loc[msini, "msini"].all()
    assert mapped.loc[msini & raw.loc[mapped.index, "pl_rade"].notna(), "imputed"].str.contains("archive M-R radius of M sin i").all()
    assert not mapped.loc[~msini, "caveats"].str.contains("M sin i").any()
    mass_radius = provenance == "M-R relationship"
    assert int(mass_radius.sum()) > 2500 and mapped.loc[mass_radius, "imputed"].str.contains("archive M-R mass").all()
    assert (mapped.loc[provenance == "Mass", "mass_provenance"] == "measured").all()
    upper = raw.loc[mapped.index, "pl_bmasselim"] == 1
    assert int(upper.sum()) > 100 and mapped.loc[upper, "caveats"].str.contains("pl_bmasse is an upper limit").all()
    assert (mapped["assumed"] == "P_rot = orbital period (tidal locking)").all()  # no rotation in the archive: assumed for every planet


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
    assert odd["imputed"] == "P_rot (clero.orbital_period)"


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


class TapServer:
    """A TAP service on 127.0.0.1 that answers /sync with a VOTable written by astropy (the real wire format,
    parsed by pyvo's own parser on the client side); it records the ADQL it was asked."""

    def __init__(self, table):
        import io
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer
        from urllib.parse import parse_qs

        from astropy.io.votable import from_table

        body = io.BytesIO()
        from_table(table).to_xml(body)
        self.payload, self.queries = body.getvalue(), []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                server.queries.append(form.get("QUERY", [""])[0])
                self.send_response(200)
                self.send_header("Content-Type", "application/x-votable+xml")
                self.send_header("Content-Length", str(len(server.payload)))
                self.end_headers()
                self.wfile.write(server.payload)

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/TAP"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_tap_results_are_cached_with_a_manifest_and_empty_results_write_nothing(tmp_path):
    from astropy.table import Table

    rows = {c: [1.0, 2.0] for c in nasa.COLUMNS}
    rows.update(pl_name=["X b", "Y c"], hostname=["X", "Y"], discoverymethod=["Transit", "Radial Velocity"], pl_bmassprov=["Mass", "Msini"])
    server = TapServer(Table(rows))
    said = []
    try:
        target = nasa.fetch_nasa(tmp_path, url=server.url, timeout=10, say=said.append)
    finally:
        server.close()
    assert server.queries == ["SELECT " + ", ".join(nasa.COLUMNS) + " FROM pscomppars"]  # what pyvo sent over the wire
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["query"] == server.queries[0] and manifest["rows"] == 2 and manifest["source"] == "tap" and manifest["url"] == server.url
    assert said == [f"fetched 2 planets from {server.url} into {target}"]
    cached = nasa.load_cached(tmp_path)
    assert list(cached["pl_name"]) == ["X b", "Y c"] and list(cached["pl_bmassprov"]) == ["Mass", "Msini"]
    assert cached["pl_insol"].tolist() == [1.0, 2.0]  # typed values through the VOTable round trip
    empty = tmp_path / "empty"
    server = TapServer(Table({c: np.zeros(0) if c not in nasa.TEXT_COLUMNS else np.array([], dtype=str) for c in nasa.COLUMNS}))
    try:
        with pytest.raises(UserError, match="the TAP query returned no rows"):
            nasa.fetch_nasa(empty, url=server.url, timeout=10)
    finally:
        server.close()
    assert not empty.exists() or not any(empty.iterdir())
    server = TapServer(Table({"pl_name": ["X b"]}))
    try:
        with pytest.raises(UserError, match="lacks required columns"):
            nasa.fetch_nasa(empty, url=server.url, timeout=10)
    finally:
        server.close()


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
