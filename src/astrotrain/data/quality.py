"""Data treatment: quality checks and the quality report every dataset gets (JSON + HTML).

A record says what was checked, where (file, planet, line or variable), how many values
failed, and what was done (`rejected`, `repaired`, `flagged`). The report is written whole
(temp + rename) next to the data it describes.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..fsutil import atomic_write_json, atomic_write_text
from ..universe.sampling import PARAMETER_NAMES, core_domain
from ..universe.store import CLIMATE_STORE
from .gcm_write import check_values


@dataclass
class QualityRecord:
    source: str  # file or dataset
    where: str  # "line 17", "planet 3", "variable temperature", ...
    check: str  # "non-finite", "range", "schema", "mapping", ...
    detail: str
    action: str = "flagged"  # rejected | repaired | flagged
    count: int = 1


@dataclass
class QualityReport:
    dataset: str
    n_records: int = 0
    records: list[QualityRecord] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def add(self, *records: QualityRecord) -> None:
        self.records.extend(records)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for record in self.records:
            out[record.action] = out.get(record.action, 0) + 1
        return out

    def to_dict(self) -> dict:
        return {"dataset": self.dataset, "n_records": self.n_records, "summary": self.summary,
                "counts": self.counts(), "records": [asdict(r) for r in self.records]}

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        out_dir = Path(out_dir)
        atomic_write_json(out_dir / "quality_report.json", self.to_dict())
        atomic_write_text(out_dir / "quality_report.html", render_html(self))
        return out_dir / "quality_report.json", out_dir / "quality_report.html"


def render_html(report: QualityReport) -> str:
    esc = html.escape
    summary = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>" for k, v in report.summary.items())
    rows = "".join(
        f"<tr class='{esc(r.action)}'><td>{esc(r.source)}</td><td>{esc(r.where)}</td><td>{esc(r.check)}</td>"
        f"<td>{r.count}</td><td>{esc(r.action)}</td><td>{esc(r.detail)}</td></tr>"
        for r in report.records
    ) or "<tr><td colspan='6'>no problems found</td></tr>"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Quality report: {esc(report.dataset)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}} tr.rejected td{{background:#fdd}} tr.repaired td{{background:#ffd}}</style>
</head><body>
<h1>Quality report: {esc(report.dataset)}</h1>
<p>{report.n_records} records checked; {esc(str(report.counts() or 'no problems'))}.</p>
<table>{summary}</table>
<table><tr><th>source</th><th>where</th><th>check</th><th>count</th><th>action</th><th>detail</th></tr>{rows}</table>
</body></html>
"""


def value_records(problems: list[dict], source: str) -> list[QualityRecord]:
    """`gcm.check_values` output → report records."""
    return [QualityRecord(source, f"variable {p['variable']}", p["check"], p["detail"], "flagged", int(p["count"])) for p in problems]


def universe_report(universe, split_indices: dict | None = None) -> QualityReport:
    """Checks of a generated universe: field values (NaN/inf, physical ranges), parameters in CLERO's
    core domain, label ranges, and — given split indices — that no planet is in two splits."""
    import numpy as np
    import xarray as xr

    source = str(universe.path)
    report = QualityReport(dataset=f"universe {universe.path.name}", n_records=len(universe))
    climate = xr.open_zarr(universe.path / CLIMATE_STORE, consolidated=False)
    report.add(*value_records(check_values(climate), source))
    table = universe.parameters
    for name, (lo, hi) in core_domain().items():
        if name in ("CO2", "CH4"):
            continue
        outside = int(((table[name] < lo) | (table[name] > hi)).sum())
        if outside:
            report.add(QualityRecord(source, f"parameter {name}", "domain", f"{outside} planets outside CLERO's core domain [{lo}, {hi}]", count=outside))
    bad_hab = int(((table["habitable_fraction"] < 0) | (table["habitable_fraction"] > 1)).sum())
    if bad_hab:
        report.add(QualityRecord(source, "label habitable_fraction", "range", "outside [0, 1]", count=bad_hab))
    report.add(*second_slice_records(universe, source))
    if split_indices:
        seen: dict[int, str] = {}
        for split, idx in split_indices.items():
            for i in np.asarray(idx).tolist():
                if i in seen:
                    report.add(QualityRecord(source, f"planet {i}", "leakage", f"in both {seen[i]} and {split}", "rejected"))
                seen[i] = split
    report.summary = {
        "planets": len(universe), "parameters": ", ".join(PARAMETER_NAMES), "sha256": universe.manifest["sha256"],
        **{f"state {k}": v for k, v in universe.manifest["climate_state_counts"].items()},
        **{f"scenario {k}": v for k, v in universe.manifest["scenario_counts"].items()},
        "evolution failures": universe.manifest["evolution_failures"]["count"],
        **({f"split {k}": len(v) for k, v in split_indices.items()} if split_indices else {}),
    }
    return report


def archive_report(archive, mapped) -> QualityReport:
    """Reader rejections (bad lines, non-numeric values) and mapping rejections of an archive table."""
    report = QualityReport(dataset=f"NASA Exoplanet Archive ({archive.source})", n_records=len(archive.frame) + sum(1 for r in archive.rejected if "column" not in r))
    for r in archive.rejected:
        where = f"line {r['line']}, column {r['column']}" if "column" in r else f"line {r['line']}"
        action = "repaired" if "column" in r else "rejected"
        detail = f"{r['reason']} (value {r['value']!r})" if "value" in r else r["reason"]
        report.add(QualityRecord(archive.source, where, "schema", detail, action))
    for r in mapped.rejected:
        where = f"line {r['line']} ({r['pl_name']})" if r.get("line") is not None else str(r["pl_name"])
        report.add(QualityRecord(archive.source, where, "mapping", r["reason"], "rejected"))
    inputs = mapped.inputs
    report.summary = {
        "rows read": len(archive.frame),
        "mapped to CLERO inputs": len(inputs),
        "rejected by the mapping": len(mapped.rejected),
        "in CLERO core domain": int(inputs["in_core_domain"].sum()),
        "in CLERO extended domain": int(inputs["in_extended_domain"].sum()),
        "with imputed inputs": int((inputs["imputed"] != "").sum()),
    }
    return report


def second_slice_records(universe, source: str, conservation_rtol: float = 1e-6) -> list[QualityRecord]:
    """Atmospheres (finite mixing ratios in [0, 1] summing to 1) and evolution trajectories
    (failed integrations: rejected with their reason; carbon conserved in the others)."""
    import numpy as np

    records = []
    atmosphere = universe.atmosphere
    x = atmosphere[[c for c in atmosphere.columns if c.startswith("x_")]].to_numpy()
    bad = int((~np.isfinite(x) | (x < 0) | (x > 1)).any(axis=1).sum())
    if bad:
        records.append(QualityRecord(source, "atmosphere x_*", "range", "mixing ratio non-finite or outside [0, 1]", count=bad))
    off = int((np.abs(x.sum(axis=1) - 1.0) > 1e-9).sum())
    if off:
        records.append(QualityRecord(source, "atmosphere x_*", "sum", "mixing ratios do not sum to 1", count=off))
    for failure in universe.manifest["evolution_failures"]["planets"]:
        records.append(QualityRecord(source, f"planet {failure['planet']}", "integration", f"evolution excluded: {failure['reason']}", "rejected"))
    evolution = universe.evolution()
    ok = evolution["ok"].astype(bool)
    total = evolution["C_atmosphere_ocean"] + evolution["C_carbonate"] + evolution["C_mantle"]
    drift = np.abs(total[ok] / evolution["C_total"][ok, None] - 1.0).max(axis=1) if ok.any() else np.zeros(0)
    leaky = int((drift > conservation_rtol).sum())
    if leaky:
        records.append(QualityRecord(source, "evolution", "conservation", f"carbon drifts by more than {conservation_rtol:g} (max {drift.max():.2g})", count=leaky))
    return records
