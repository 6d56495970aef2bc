"""The literature sanity table: our prediction of well-studied planets next to what published 3D-GCM
studies of each conclude, with the agreement counted.

Each study's conclusion is reduced to one of four coarse verdicts about *surface liquid water
under the atmospheres the study explored*: "habitable" (liquid water for a wide range of
atmospheres), "conditional" (only with a particular atmosphere, e.g. thick CO2; frozen otherwise),
"too hot" (runaway or moist greenhouse), "frozen" (snowball even with a strong greenhouse).
A planet no 3D-GCM study of which is listed here is shown as such, never given a verdict. The
summaries are ours, of the papers' abstracts and conclusions; read the papers for the conditions.

Our verdict from a prediction: the limit labels map to "too hot" / "frozen"; a predicted planet is
"habitable" when its habitable fraction reaches 0.05, else "too hot" if its map is hotter than its
boiling point or in a greenhouse state, "frozen" otherwise; withheld and unpredicted planets get
none. Agreement: the verdicts match, or the study's is "conditional" and ours "habitable" or
"frozen" (both are among its outcomes).
"""

from __future__ import annotations

TURBET_2018 = "Turbet et al. 2018, A&A 612, A86"
WOLF_2017 = "Wolf 2017, ApJL 839, L1"
LITERATURE = {
    "TRAPPIST-1 b": ("too hot", [TURBET_2018], "beyond the runaway limit: no surface water"),
    "TRAPPIST-1 c": ("too hot", [TURBET_2018], "beyond the runaway limit: no surface water"),
    "TRAPPIST-1 d": ("too hot", [WOLF_2017, TURBET_2018], "runaway or moist greenhouse for most atmospheres as an ocean planet"),
    "TRAPPIST-1 e": ("habitable", [WOLF_2017, TURBET_2018], "surface liquid water for a wide range of atmospheres"),
    "TRAPPIST-1 f": ("conditional", [WOLF_2017, TURBET_2018], "liquid water only under a thick (≳ 1 bar) CO2 atmosphere, else frozen"),
    "TRAPPIST-1 g": ("conditional", [WOLF_2017, TURBET_2018], "liquid water only under a thick CO2 atmosphere, else frozen"),
    "TRAPPIST-1 h": ("frozen", [TURBET_2018], "frozen even under CO2, which condenses"),
    "Proxima Cen b": ("habitable", ["Turbet et al. 2016, A&A 596, A112", "Boutle et al. 2017, A&A 601, A120"],
                      "a substellar ocean (eyeball) for a wide range of atmospheres and water inventories"),
    "LHS 1140 b": ("habitable", ["Cadieux et al. 2024, ApJL 970, L2"], "a water world with an N2/CO2 atmosphere keeps a substellar open ocean"),
    "Kepler-186 f": ("conditional", ["Bolmont et al. 2014, ApJ 793, 3"], "surface liquid water with a dense CO2 atmosphere"),
    "Kepler-442 b": (None, [], "no 3D-GCM study in this table"),
    "TOI-700 d": ("habitable", ["Suissa et al. 2020, AJ 160, 118"], "temperate surfaces across the simulated atmospheres (ROCKE-3D)"),
    "Teegarden's Star b": (None, [], "no 3D-GCM study in this table"),
    "Teegarden's Star c": (None, [], "no 3D-GCM study in this table"),
    "Ross 128 b": (None, [], "no 3D-GCM study in this table"),
    "GJ 1002 b": (None, [], "no 3D-GCM study in this table"),
}
HABITABLE_AT = 0.05  # a predicted habitable fraction from which a planet counts as having surface liquid water
HOT_STATES = ("moist_greenhouse", "runaway_greenhouse")


def our_verdict(row) -> str | None:
    status = row["status"]
    if status == "limit":
        return "too hot" if row["climate_state"] == "runaway_greenhouse" else "frozen"
    if status not in ("ok", "extrapolated") or row["habitable_fraction"] != row["habitable_fraction"]:
        return None
    if row["habitable_fraction"] >= HABITABLE_AT:
        return "habitable"
    hot = row["climate_state"] in HOT_STATES or row["surface_temperature_mean_K"] > row["boiling_point_K"]
    return "too hot" if hot else "frozen"


def agrees(ours: str | None, theirs: str | None) -> bool | None:
    if ours is None or theirs is None:
        return None
    return ours == theirs or (theirs == "conditional" and ours in ("habitable", "frozen"))


def sanity_table(table) -> dict:
    """Rows for every planet of LITERATURE (absent from the catalog: said so) and the agreement count."""
    by_name = {name: row for name, row in zip(table["pl_name"], table.to_dict("records"))}
    rows = []
    for name, (theirs, studies, summary) in LITERATURE.items():
        row = by_name.get(name)
        ours = our_verdict(row) if row is not None else None
        rows.append({"planet": name, "status": row["status"] if row is not None else "not in the catalog",
                     "climate_state": row["climate_state"] if row is not None else None,
                     "habitable_fraction": row["habitable_fraction"] if row is not None else None,
                     "ours": ours, "literature": theirs, "studies": studies, "literature_summary": summary, "agrees": agrees(ours, theirs)})
    compared = [r for r in rows if r["agrees"] is not None]
    return {"rows": rows, "compared": len(compared), "agree": sum(r["agrees"] for r in compared),
            "no_study": sum(r["literature"] is None for r in rows), "not_predicted": sum(r["ours"] is None and r["literature"] is not None for r in rows)}


def markdown(sanity: dict) -> str:
    lines = ["| planet | our status | our climate state | habitable fraction | our verdict | 3D-GCM studies conclude | studies | agree |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sanity["rows"]:
        fraction = f"{r['habitable_fraction']:.2f}" if isinstance(r["habitable_fraction"], float) and r["habitable_fraction"] == r["habitable_fraction"] else "—"
        verdict = {True: "yes", False: "**no**", None: "—"}[r["agrees"]]
        lines.append(f"| {r['planet']} | {r['status']} | {(r['climate_state'] or '—').replace('_', ' ')} | {fraction} | {r['ours'] or '—'} | "
                     f"{(r['literature'] or 'no study') + ': ' + r['literature_summary'] if r['literature'] else r['literature_summary']} | "
                     f"{'; '.join(r['studies']) or '—'} | {verdict} |")
    lines.append("")
    lines.append(f"Agreement: {sanity['agree']} of {sanity['compared']} planets compared; {sanity['not_predicted']} with a study but no "
                 f"prediction of ours (withheld or outside the domain); {sanity['no_study']} without a 3D-GCM study in this table.")
    return "\n".join(lines)
