"""Instruction pairs about universe planets: a question (parameters and, where present, what was
observed) and an answer that states the climate state, the habitable fraction, the biosphere
evidence and the reasons, with numbers from the truth.

Every planet gets one pair; its phrasings (question template, answer wording of each field) are
drawn from a stream seeded by (seed, planet), so the corpus is deterministic and a planet's
text does not depend on which other planets are in it. A share of the planets (`observed_share`)
comes with observations of its atmosphere; the others are asked about from their parameters
alone, as a catalog planet is, and their answer leaves the biosphere unassessed.
`parse_answer` reads the climate state and the habitable fraction back out of any answer in
these formats (the LLM's answer accuracy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

STATES = ("snowball", "eyeball", "waterbelt", "globally_temperate", "moist_greenhouse", "runaway_greenhouse")
STATE_WORDS = {s: s.replace("_", " ") for s in STATES}  # as written in answers
EARTH_INSTELLATION = 1361.0  # W m-2
M_DWARF_T_STAR = 3900.0  # K

QUESTIONS = (
    "Describe the climate of a planet with {parameters}.",
    "A rocky planet has {parameters}. What is its climate, and could it host life?",
    "Given {parameters}, is this planet habitable?",
    "Assess the habitability of an exoplanet with {parameters}.",
)
OBSERVED = (" Its transmission spectrum shows {gases}.", " Observations of its atmosphere find {gases}.")
STATE_SENTENCES = ("Climate state: {state}.", "The planet is in a {state} climate.", "Its climate is {state}.")
HABITABLE_SENTENCES = (
    "Habitable surface fraction: {fraction:.2f}.",
    "A fraction {fraction:.2f} of the surface is between 273 and 373 K.",
    "The habitable fraction of the surface is {fraction:.2f}.",
)
BIOSPHERE_SENTENCES = {
    True: ("Biosphere: likely ({evidence}).", "Signs of life: {evidence}."),
    False: ("Biosphere: unlikely ({evidence}).", "No sign of life: {evidence}."),
}
NOT_ASSESSED = "Biosphere: not assessed (no observations of its atmosphere)."


@dataclass(frozen=True)
class InstructionPair:
    planet: int
    question: str
    answer: str
    observed: bool  # the question gives observations of the atmosphere


def describe_parameters(row: dict) -> str:
    star = "an M dwarf" if row["T_star"] < M_DWARF_T_STAR else "a K or G star"
    return (f"host star T = {row['T_star']:.0f} K ({star}), instellation {row['F_star']:.0f} W/m² "
            f"({row['F_star'] / EARTH_INSTELLATION:.2f} × Earth's), radius {row['radius']:.2f} R_earth, gravity {row['gravity']:.1f} m/s², "
            f"rotation period {row['P_rot']:.1f} d, surface pressure {row['P0']:.2f} bar, CO2 {row['CO2']:.2g}, CH4 {row['CH4']:.2g}")


def reasons(row: dict, state: str) -> str:
    """One sentence of physical reasons, from the parameters (what the climate mostly follows)."""
    parts = [f"it receives {row['F_star'] / EARTH_INSTELLATION:.2f} × Earth's instellation"]
    if row["CO2"] >= 0.01:
        parts.append(f"a CO2-rich atmosphere ({row['CO2']:.2g}) warms it")
    if state == "eyeball":
        parts.append("a slowly rotating, tidally locked planet keeps liquid water only near the substellar point")
    elif state in ("moist_greenhouse", "runaway_greenhouse"):
        parts.append("water vapour feedback dominates")
    elif state == "snowball":
        parts.append("ice albedo keeps it frozen")
    return "Reasons: " + "; ".join(parts) + "."


def biosphere_evidence(gases: dict) -> str:
    o2, n2o, ch4 = gases["x_O2"], gases["x_N2O"], gases["x_CH4"]
    if n2o > 0:
        return f"N2O {n2o:.1e} and CH3Cl {gases['x_CH3Cl']:.1e} have no abiotic source" + (f", O2 {o2:.2g}" if o2 > 0 else "")
    if o2 > 0:
        return f"O2 {o2:.2g} without biogenic N2O or CH3Cl points to abiotic oxygen"
    return f"no O2 and no biogenic gases (CH4 {ch4:.1e} is volcanic)"


def question_text(row: dict, template: int, seen_gases: list[str] | None = None, observed_template: int = 0) -> str:
    """The question about a planet: its parameters, and what was observed (None: nothing observed)."""
    question = QUESTIONS[template].format(parameters=describe_parameters(row))
    if seen_gases is not None:
        question += OBSERVED[observed_template].format(gases=", ".join(seen_gases) or "no O2, O3, CH4 or N2O")
    return question


def instruction_pairs(universe, planets: np.ndarray, seed: int, observed_share: float = 1.0) -> list[InstructionPair]:
    """One question/answer pair per planet in `planets` (universe indices)."""
    params, atmosphere = universe.parameters, universe.atmosphere
    pairs = []
    for planet in np.asarray(planets, dtype=np.int64):
        rng = np.random.default_rng([seed, 0x11A, int(planet)])
        row = params.iloc[planet].to_dict()
        gases = atmosphere.iloc[planet].to_dict()
        state = STATES[int(row["climate_state"])]
        template, observed_template = rng.integers(len(QUESTIONS)), rng.integers(len(OBSERVED))
        observed = bool(rng.random() < observed_share)
        seen = [f"{name} {gases['x_' + name]:.1e}" for name in ("O2", "O3", "CH4", "N2O") if gases["x_" + name] > 0]
        inhabited = bool(gases["biosphere"])
        biosphere = BIOSPHERE_SENTENCES[inhabited][rng.integers(2)].format(evidence=biosphere_evidence(gases))
        answer = " ".join([
            STATE_SENTENCES[rng.integers(len(STATE_SENTENCES))].format(state=STATE_WORDS[state]),
            HABITABLE_SENTENCES[rng.integers(len(HABITABLE_SENTENCES))].format(fraction=row["habitable_fraction"]),
            biosphere if observed else NOT_ASSESSED,
            reasons(row, state),
        ])
        pairs.append(InstructionPair(int(planet), question_text(row, template, seen if observed else None, observed_template), answer, observed))
    return pairs


_STATE_PATTERN = re.compile("|".join(sorted((re.escape(w) for w in STATE_WORDS.values()), key=len, reverse=True)))
_FRACTION_PATTERN = re.compile(r"(?:habitable surface fraction:|a fraction|habitable fraction of the surface is)\s*([01](?:\.\d+)?)", re.IGNORECASE)


def parse_answer(text: str) -> tuple[str | None, float | None]:
    """(climate state, habitable fraction) read back out of an answer; None where absent."""
    state = _STATE_PATTERN.search(text.lower())
    fraction = _FRACTION_PATTERN.search(text)
    return (state.group(0).replace(" ", "_") if state else None, float(fraction.group(1)) if fraction else None)


def parse_biosphere(text: str) -> bool | None:
    """The answer's verdict on life: True, False, or None where it gives none (or leaves it unassessed)."""
    lowered = text.lower()
    if "biosphere: unlikely" in lowered or "no sign of life" in lowered:
        return False
    if "biosphere: likely" in lowered or "signs of life" in lowered:
        return True
    return None
