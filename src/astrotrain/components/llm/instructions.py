"""Instruction pairs about universe planets: a question that gives only what an observer has —
the planet's catalog entry (`data/observation.py`: noisy T⋆, F⋆, radius, gravity, P_rot; no
atmosphere) and, where observed, the gases the spectral retrieval detected with their errors and
upper limits (`spectral/retrieval.py`) — and an answer that states the true climate state,
habitable fraction and biosphere verdict (the targets), with the evidence and reasons read from
those same observations (an answer never cites a quantity the question did not give).

Every planet gets one pair; its phrasings (question template, answer wording of each field) are
drawn from a stream seeded by (seed, planet), so the corpus is deterministic and a planet's
text does not depend on which other planets are in it. A share of the planets (`observed_share`)
comes with observations of its atmosphere; the others are asked about from their catalog entry
alone, as a catalog planet is, and their answer leaves the biosphere unassessed.
`parse_answer` reads the climate state and the habitable fraction back out of any answer in
these formats (the LLM's answer accuracy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..spectral.data import TARGET_GASES as GASES  # the retrieved gases, in the order of the detections' gas axis

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
    "A fraction {fraction:.2f} of the surface holds liquid water (273 K to the boiling point).",
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


CO2_RICH_DEX = -2.0  # a detected log10 CO2 above this is called CO2-rich


def describe_parameters(row: dict) -> str:
    """A catalog entry in words (the atmosphere is not in a catalog)."""
    star = "an M dwarf" if row["T_star"] < M_DWARF_T_STAR else "a K or G star"
    return (f"host star T = {row['T_star']:.0f} K ({star}), instellation {row['F_star']:.0f} W/m² "
            f"({row['F_star'] / EARTH_INSTELLATION:.2f} × Earth's), radius {row['radius']:.2f} R_earth, gravity {row['gravity']:.1f} m/s², "
            f"orbital (= rotation) period {row['P_rot']:.1f} d")


def describe_gases(detections) -> str:
    """The retrieval's report: '10^x±s' for detected gases, upper limits for the rest."""
    words = []
    for gas, (detected, value, sigma) in zip(GASES, detections):
        words.append(f"{gas} 10^{value:.1f}±{sigma:.1f}" if detected else f"no {gas} (< 10^{value:.1f})")
    return ", ".join(words)


def detected(detections, gas: str) -> float | None:
    """The retrieved log10 abundance of `gas` where detected, else None."""
    flag, value, _ = detections[GASES.index(gas)]
    return float(value) if flag else None


def reasons(row: dict, state: str, detections=None) -> str:
    """One sentence of physical reasons, from what was observed (what the climate mostly follows)."""
    parts = [f"it receives {row['F_star'] / EARTH_INSTELLATION:.2f} × Earth's instellation"]
    co2 = detected(detections, "CO2") if detections is not None else None
    if co2 is not None and co2 >= CO2_RICH_DEX:
        parts.append(f"a CO2-rich atmosphere (10^{co2:.1f}) warms it")
    if state == "eyeball":
        parts.append("a slowly rotating, tidally locked planet keeps liquid water only near the substellar point")
    elif state in ("moist_greenhouse", "runaway_greenhouse"):
        parts.append("water vapour feedback dominates")
    elif state == "snowball":
        parts.append("ice albedo keeps it frozen")
    return "Reasons: " + "; ".join(parts) + "."


def biosphere_evidence(detections) -> str:
    """What the observed gases say, in the words of an observer (detections only, no truth)."""
    o2, n2o, ch4 = (detected(detections, g) for g in ("O2", "N2O", "CH4"))
    if n2o is not None:
        return f"N2O at 10^{n2o:.1f}" + (f" with O2 at 10^{o2:.1f}" if o2 is not None else "") + ", beyond most abiotic sources"
    if o2 is not None:
        return f"O2 at 10^{o2:.1f} without N2O, which abiotic oxygen (water loss, CO2 photolysis) can also explain"
    return "neither O2 nor N2O detected" + (f"; CH4 at 10^{ch4:.1f} can be volcanic" if ch4 is not None else "")


def question_text(row: dict, template: int, detections=None, observed_template: int = 0) -> str:
    """The question about a planet: its catalog entry, and what was observed (None: nothing observed)."""
    question = QUESTIONS[template].format(parameters=describe_parameters(row))
    if detections is not None:
        question += OBSERVED[observed_template].format(gases=describe_gases(detections))
    return question


def instruction_pairs(universe, planets: np.ndarray, seed: int, catalog, detections=None, observed_share: float = 1.0) -> list[InstructionPair]:
    """One question/answer pair per planet in `planets` (universe indices). `catalog`: the catalog view
    of every universe planet (rows by planet); `detections` `[planet, gas, 3]`: the retrieval's report
    of every planet (None: no planet is observed)."""
    params, atmosphere = universe.parameters, universe.atmosphere
    pairs = []
    for planet in np.asarray(planets, dtype=np.int64):
        rng = np.random.default_rng([seed, 0x11A, int(planet)])
        row = catalog.iloc[planet].to_dict()
        truth = params.iloc[planet]
        state = STATES[int(truth["climate_state"])]
        template, observed_template = rng.integers(len(QUESTIONS)), rng.integers(len(OBSERVED))
        observed = bool(rng.random() < observed_share) and detections is not None
        seen = np.asarray(detections[planet]) if observed else None
        inhabited = bool(atmosphere["biosphere"].iloc[planet])
        wording = BIOSPHERE_SENTENCES[inhabited][rng.integers(2)]
        answer = " ".join([
            STATE_SENTENCES[rng.integers(len(STATE_SENTENCES))].format(state=STATE_WORDS[state]),
            HABITABLE_SENTENCES[rng.integers(len(HABITABLE_SENTENCES))].format(fraction=truth["habitable_fraction"]),
            wording.format(evidence=biosphere_evidence(seen)) if observed else NOT_ASSESSED,
            reasons(row, state, seen),
        ])
        pairs.append(InstructionPair(int(planet), question_text(row, template, seen, observed_template), answer, observed))
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
