"""`astrotrain explain --run RUN --planet NAME`: the fine-tuned LLM explains one planet.

RUN: a `--mode full` run with a finished phase 3 (or an `llm` component run). NAME: a planet of
the run's universe (`universe:123`, or `123`: its index) — asked about with the observations
of its atmosphere, fusion reading every modality — or a NASA Exoplanet Archive planet (`pl_name`,
e.g. "TRAPPIST-1 e", from `--catalog CSV` or the table `astrotrain data fetch nasa` cached),
mapped to the 8 parameters as `data/mapping.py` documents, asked about from its parameters
alone (nothing of its atmosphere is observed), fusion reading the parameters alone.

The answer comes from the exported model (`merged/`, `projector.safetensors`, `tokenizer/`):
greedy decoding after the prefix the projector makes from fusion's embedding of the planet.
Fusion's own prediction is shown beside it; the answer is parsed as in the evaluation.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

from ...config.loader import read_yaml, validate
from ...data.mapping import map_archive
from ...data.nasa import load_cached, read_archive_csv
from ...data.observation import catalog_features, unknown_atmosphere
from ...errors import UserError
from ...runs import layout as rd
from ...runs.layout import is_pipeline_run, phase_run_dir
from ...runs.run import open_run
from ..multimodal.data import MultimodalDataModule
from ..multimodal.load import load_fusion
from ..multimodal.pretrained import pretrained_components
from .data import fusion_outputs, observed_catalog, question_token_ids
from .instructions import STATES, instruction_pairs, parse_answer, parse_biosphere, question_text
from .model import PrefixProjector
from .report import generate_answer

UNIVERSE_PLANET = re.compile(r"^(?:universe:)?(\d+)$")


def llm_run_dir(run: Path) -> Path:
    """The folder of the finished LLM run inside `run` (a pipeline run) or `run` itself."""
    if not (run / rd.CONFIG_FILE).is_file():
        raise UserError(f"--run {run}: not an astrotrain run directory (no {rd.CONFIG_FILE})")
    folder = phase_run_dir(run, "llm", "llm") if is_pipeline_run(run) else run
    if not is_pipeline_run(run) and read_yaml(run / rd.CONFIG_FILE).get("run", {}).get("component") != "llm":
        raise UserError(f"--run {run}: neither a --mode full run nor an llm component run; give the folder of a --mode full run "
                        "with a finished phase 3")
    metrics = folder / rd.METRICS_FILE
    if not (metrics.is_file() and "test" in json.loads(metrics.read_text()) and (folder / "merged" / "config.json").is_file()):
        raise UserError(f"--run {run}: no finished LLM phase in {folder}; finish it with `python train.py --resume {run}` "
                        "(a --mode full run) or train one with `python train.py --component llm components.llm.fusion=<run>`")
    return folder


def load_explainer(folder: Path, cfg):
    """(merged model, projector or None, tokenizer) of a finished LLM run."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModelForCausalLM.from_pretrained(folder / "merged", dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer")
    projector = None
    if (folder / "projector.safetensors").is_file():
        state = load_file(folder / "projector.safetensors")
        hidden, d_fusion = state["net.0.weight"].shape
        projector = PrefixProjector(d_fusion, hidden, cfg.components.llm.prefix_tokens)
        projector.load_state_dict(state)
        projector.eval()
    return model, projector, tokenizer


def catalog_planet(name: str, catalog: str | None, cfg) -> dict:
    """The archive row named `name`, mapped to the 8 parameters (+ `imputed`, domain flags)."""
    import pandas as pd

    if catalog is not None:
        frame = read_archive_csv(catalog).frame
    else:
        try:
            frame = load_cached(cfg.data.archive.cache_dir)
        except UserError as exc:
            raise UserError(f"--planet {name!r} is not a universe planet (universe:INDEX) and there is no catalog to look it up in: "
                            f"pass --catalog <archive CSV export> or run `astrotrain data fetch nasa` ({exc.message})") from None
    key = frame["pl_name"].astype(str).str.casefold().str.split().str.join(" ")
    rows = frame[key == " ".join(name.casefold().split())]
    if rows.empty:
        names = {n.casefold(): n for n in frame["pl_name"].astype(str)}
        close = [names[c] for c in difflib.get_close_matches(name.casefold(), list(names), n=3, cutoff=0.8)]
        raise UserError(f"--planet {name!r} is not in the catalog" + (f"; did you mean {', '.join(repr(c) for c in close)}?" if close else
                        " (NASA Exoplanet Archive pl_name, e.g. 'TRAPPIST-1 e'; or universe:INDEX for a universe planet)"))
    mapped = map_archive(rows.iloc[:1], cfg.data.archive.default_atmosphere.model_dump())
    if mapped.rejected:
        raise UserError(f"--planet {name!r} cannot be mapped to the model's inputs: {mapped.rejected[0]['reason']}")
    return pd.Series(mapped.inputs.iloc[0]).to_dict()


def explain(run: str | Path, planet: str, catalog: str | None = None, max_new_tokens: int | None = None) -> dict:
    """The LLM's answer about `planet`, with the question, fusion's prediction and what was parsed."""
    import pandas as pd
    import torch

    folder = llm_run_dir(Path(run))
    cfg = validate(read_yaml(folder / rd.CONFIG_FILE), source=str(folder / rd.CONFIG_FILE))
    fusion_run = open_run(Path(cfg.components.llm.fusion))
    match = UNIVERSE_PLANET.match(planet.strip())
    if match:  # every check on the planet before anything is loaded
        universe, index = fusion_run.universe(), int(match.group(1))
        if index >= len(universe):
            raise UserError(f"--planet {planet}: the run's universe has planets 0 to {len(universe) - 1}")
    else:
        if "parameters" not in fusion_run.fusion_config().components.multimodal.modalities:
            raise UserError(f"--planet {planet!r}: a catalog planet is known by its parameters, which this run's fusion model does not read "
                            "(components.multimodal.modalities); explain a universe planet (universe:INDEX) instead")
        row = catalog_planet(planet, catalog, cfg)
    model, projector, tokenizer = load_explainer(folder, cfg)
    fusion = load_fusion(fusion_run)
    fused = fusion.module.model
    with torch.inference_mode():
        if match:
            datamodule = MultimodalDataModule(fusion.cfg, universe, pretrained_components(fusion.cfg))
            datamodule.setup()
            detections = datamodule.every_planet.tensors["gases.observed"].numpy() if "gases" in fusion.modalities else None
            question = instruction_pairs(universe, [index], cfg.run.seed, observed_catalog(fusion.cfg, universe), detections, observed_share=1.0)[0].question
            batch = datamodule.every_planet[[index]]
            present = batch["available"]
            source = {"universe_planet": index, "truth": {"climate_state": STATES[int(universe.parameters["climate_state"].iloc[index])],
                                                          "habitable_fraction": float(universe.parameters["habitable_fraction"].iloc[index]),
                                                          "biosphere": bool(universe.atmosphere["biosphere"].iloc[index])}}
        else:
            question = question_text(row, template=0)
            features = catalog_features(pd.DataFrame([row]), {}, unknown_atmosphere(fusion.cfg.data.universe), seed=None)
            batch = {"parameters.features": torch.from_numpy(features)}
            present = torch.tensor([[m == "parameters" for m in fusion.modalities]])
            source = {"catalog_planet": row["pl_name"], "parameters": {k: float(row[k]) for k in ("T_star", "F_star", "radius", "gravity", "P_rot")},
                      "imputed": row["imputed"] or None, "in_core_domain": bool(row["in_core_domain"]),
                      "in_extended_domain": bool(row["in_extended_domain"])}
        reading = fusion_outputs(fused, batch, present)
    answer = generate_answer(model, projector, tokenizer, question_token_ids(tokenizer, question), reading["embedding"], max_new_tokens or 3 * cfg.components.llm.max_new_tokens)
    state, fraction = parse_answer(answer)
    return {"planet": planet, **source, "question": question, "answer": answer,
            "parsed": {"climate_state": state, "habitable_fraction": fraction, "biosphere": parse_biosphere(answer)},
            "fusion": {"climate_state": STATES[int(reading["state"][0])], "habitable_fraction": float(reading["habitable"][0]),
                       "modalities_used": [m for m, shown in zip(fusion.modalities, present[0].tolist()) if shown]},
            "llm_run": str(folder)}


def format_explanation(result: dict) -> str:
    where = (f"universe planet {result['universe_planet']}" if "universe_planet" in result else
             f"{result['catalog_planet']} (NASA Exoplanet Archive; imputed: {result['imputed'] or 'none'}; "
             f"{'inside' if result['in_extended_domain'] else 'OUTSIDE'} CLERO's extended domain"
             f"{', core domain' if result['in_core_domain'] else ''})")
    lines = [f"planet:   {where}", f"question: {result['question']}", f"answer:   {result['answer']}",
             f"fusion:   {result['fusion']['climate_state'].replace('_', ' ')}, habitable fraction {result['fusion']['habitable_fraction']:.2f} "
             f"(from {', '.join(result['fusion']['modalities_used'])})"]
    if "truth" in result:
        truth = result["truth"]
        lines.append(f"truth:    {truth['climate_state'].replace('_', ' ')}, habitable fraction {truth['habitable_fraction']:.2f}, "
                     f"biosphere {'yes' if truth['biosphere'] else 'no'}")
    return "\n".join(lines)
