"""NASA Exoplanet Archive: the `pscomppars` table over TAP (pyvo), its CSV export format, and the cache.

The cache is one directory, written whole or not at all:

```
<cache_dir>/pscomppars/
  table.csv        # the columns astrotrain uses, one row per planet
  manifest.json    # source (TAP URL + query, or the export file), retrieval time, row count, sha256
```
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..errors import UserError
from ..fsutil import atomic_directory, atomic_write_json
from ..hashing import sha256_file

TAP_URL = "https://exoplanetarchive.ipac.caltech.edu/TAP"
TABLE = "pscomppars"
COLUMNS = (
    "pl_name", "hostname", "discoverymethod", "pl_orbper", "pl_orbsmax", "pl_rade", "pl_bmasse",
    "pl_insol", "pl_eqt", "st_teff", "st_rad", "st_mass", "sy_dist",
    # the caveats the archive attaches: where the mass comes from (Mass, Msini, Msin(i)/sin(i),
    # M-R relationship) and the limit flags (1: the value is an upper limit, -1: a lower limit)
    "pl_bmassprov", "pl_bmasselim", "pl_radelim", "pl_insollim", "st_tefflim", "pl_orbperlim",
)
REQUIRED = ("pl_name", "pl_orbper", "pl_rade", "pl_bmasse", "pl_insol", "st_teff")
TEXT_COLUMNS = ("pl_name", "hostname", "discoverymethod", "pl_bmassprov")
PRIOR_COLUMNS = ("P_rot", "P0", "P0_min", "P0_max", "CO2", "CO2_min", "CO2_max", "CH4", "CH4_min", "CH4_max")
"""Optional columns of a user's input CSV (not archive columns): a planet's known rotation period [d],
and its atmosphere — a value, or the bounds of a log-uniform prior — replacing the universe's prior."""
CACHE_NAME = TABLE


@dataclass
class ArchiveTable:
    """Planets as a DataFrame plus every row the reader rejected, with its line and reason."""

    frame: object  # pandas.DataFrame
    rejected: list[dict] = field(default_factory=list)
    descriptions: dict[str, str] = field(default_factory=dict)
    source: str = ""


def build_query(columns: tuple[str, ...] = COLUMNS) -> str:
    return f"SELECT {', '.join(columns)} FROM {TABLE}"


def read_archive_csv(path: str | Path) -> ArchiveTable:
    """Read the archive's CSV export: a `# COLUMN name: description` block, then CSV.

    Rows with the wrong number of fields are rejected with their line number; a non-numeric
    value in a numeric column becomes missing and is listed (line, column, value). Missing
    required columns are an error naming them.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise UserError(f"archive file {path} not found")
    descriptions: dict[str, str] = {}
    rejected: list[dict] = []
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if line.startswith("#"):
                if line.startswith("# COLUMN "):
                    name, _, text = line[len("# COLUMN "):].partition(":")
                    descriptions[name.strip()] = text.strip()
                continue
            if not line.strip():
                continue
            fields = next(csv.reader([line]))
            if header is None:
                header = [f.strip() for f in fields]
                continue
            if len(fields) != len(header):
                rejected.append({"line": number, "reason": f"expected {len(header)} fields, got {len(fields)}"})
                continue
            rows.append(fields)
            lines.append(number)
    if header is None:
        raise UserError(f"archive file {path} has no CSV header row (is it a NASA Exoplanet Archive export?)")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise UserError(f"archive file {path} lacks required columns {missing}; export them from the archive (table {TABLE})")
    frame = pd.DataFrame(rows, columns=header)
    frame.insert(0, "source_line", lines)
    for column in COLUMNS + PRIOR_COLUMNS:  # optional columns the mapping can use: missing = unknown
        if column not in frame.columns:
            frame[column] = ""
    for column in [c for c in COLUMNS + PRIOR_COLUMNS if c not in TEXT_COLUMNS]:
        raw = frame[column].str.strip()
        numbers = pd.to_numeric(raw, errors="coerce")
        bad = numbers.isna() & (raw != "")
        for line, value in zip(frame.loc[bad, "source_line"], raw[bad]):
            rejected.append({"line": int(line), "column": column, "value": value, "reason": "not a number; treated as missing"})
        frame[column] = numbers
    keep = ["source_line", *COLUMNS, *PRIOR_COLUMNS]
    return ArchiveTable(frame[keep].reset_index(drop=True), rejected, descriptions, str(path))


def pyvo_query(url: str, query: str, timeout: float):
    """Run `query` on the TAP service at `url` (synchronous); returns an astropy Table."""
    import pyvo
    import requests

    session = requests.Session()
    session.request = _with_timeout(session.request, timeout)
    return pyvo.dal.TAPService(url, session=session).run_sync(query).to_table()


def _with_timeout(request, timeout: float):
    def wrapped(*args, **kwargs):
        kwargs.setdefault("timeout", timeout)
        return request(*args, **kwargs)

    return wrapped


def cache_dir_of(cache_root: str | Path) -> Path:
    return Path(cache_root) / CACHE_NAME


def fetch_nasa(cache_root: str | Path, url: str = TAP_URL, timeout: float = 60.0, offline: bool = False,
               run_query: Callable = pyvo_query, say: Callable[[str], None] = print) -> Path:
    """Query `pscomppars` and cache it; offline (or on a network failure) use the cache and say so."""
    target = cache_dir_of(cache_root)
    query = build_query()
    table = None
    if not offline:
        try:
            table = run_query(url, query, timeout)
        except Exception as exc:  # network, HTTP or VOTable errors: all mean "no fresh table"
            say(f"NASA Exoplanet Archive not reachable ({type(exc).__name__}: {str(exc)[:120]})")
    if table is None:
        if (target / "manifest.json").is_file():
            manifest = json.loads((target / "manifest.json").read_text())
            say(f"offline: using the cached table {target / 'table.csv'} ({manifest['rows']} planets, retrieved {manifest['retrieved']})")
            return target
        raise UserError(
            f"no NASA Exoplanet Archive cache at {target} and the archive could not be queried; "
            f"run `astrotrain data fetch nasa` with network access, or seed the cache from an export with "
            f"`astrotrain data fetch nasa --from-csv PSCompPars.csv`"
        )
    frame = table.to_pandas() if hasattr(table, "to_pandas") else table
    if len(frame) == 0:
        raise UserError(f"the TAP query returned no rows ({url}: {query}); nothing was cached")
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise UserError(f"the TAP result lacks required columns {missing} ({url}: {query}); nothing was cached")
    write_cache(target, frame, {"source": "tap", "url": url, "query": query})
    say(f"fetched {len(frame)} planets from {url} into {target}")
    return target


def import_export(csv_path: str | Path, cache_root: str | Path, say: Callable[[str], None] = print) -> Path:
    """Seed the cache from an archive CSV export (rows the reader rejects are listed in the manifest)."""
    archive = read_archive_csv(csv_path)
    target = cache_dir_of(cache_root)
    write_cache(target, archive.frame.drop(columns=["source_line"]), {
        "source": "export", "file": str(csv_path), "file_sha256": sha256_file(csv_path), "rejected": archive.rejected,
    })
    say(f"imported {len(archive.frame)} planets from {csv_path} into {target} ({len(archive.rejected)} rows or values rejected)")
    return target


def write_cache(target: Path, frame, source: dict) -> None:
    with atomic_directory(target) as tmp:
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        (tmp / "table.csv").write_text(buffer.getvalue())
        atomic_write_json(tmp / "manifest.json", {
            **source,
            "table": TABLE,
            "retrieved": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "rows": int(len(frame)),
            "columns": list(frame.columns),
            "sha256": sha256_file(tmp / "table.csv"),
        })


def load_cached(cache_root: str | Path):
    """The cached table as a DataFrame (checked against its manifest's sha256)."""
    import pandas as pd

    target = cache_dir_of(cache_root)
    if not (target / "manifest.json").is_file():
        raise UserError(f"no NASA Exoplanet Archive cache at {target}; run `astrotrain data fetch nasa` first")
    manifest = json.loads((target / "manifest.json").read_text())
    if sha256_file(target / "table.csv") != manifest["sha256"]:
        raise UserError(f"cached table {target / 'table.csv'} does not match its manifest's sha256; fetch it again")
    return pd.read_csv(target / "table.csv")
