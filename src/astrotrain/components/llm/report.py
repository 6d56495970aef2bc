"""After the test: answers generated for held-out planets, parsed and scored; the adapters saved.

For the first `eval_planets` test planets: greedy generation from [fusion prefix, question];
the climate state, habitable fraction and biosphere verdict are parsed back out of the answer
(instructions.parse_*) and scored against the truth and against fusion's own prediction; the
state also for the planets asked about from their parameters alone, the biosphere verdict for
those asked about with observations (the others should leave it unassessed).
Saved in the run directory: `adapter/` (peft `save_pretrained`, safetensors), `projector.safetensors`,
`tokenizer/`, `merged/` (`merge_and_unload`: a plain transformers model) and `answers.json`.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ...fsutil import atomic_write_json
from .instructions import STATES, parse_answer, parse_biosphere
from .model import prefixed_inputs


@torch.inference_mode()
def generate_answer(model, projector, tokenizer, question_ids: torch.Tensor, fusion_embedding: torch.Tensor, max_new_tokens: int) -> str:
    """Greedy answer to one question, after the prefix the projector makes from fusion's embedding."""
    inputs = prefixed_inputs(model, projector, fusion_embedding, question_ids, torch.ones_like(question_ids))
    out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    return tokenizer.decode(out[0], skip_special_tokens=True)


def report(cfg, module, datamodule, run_dir) -> dict:
    from safetensors.torch import save_file

    lc = cfg.components.llm
    module.eval()
    test = datamodule.datasets["test"].tensors
    params, atmosphere = datamodule.universe.parameters, datamodule.universe.atmosphere
    rows, latencies = [], []
    for i in range(min(lc.eval_planets, len(test["planet"]))):
        planet = int(test["planet"][i])
        started = time.perf_counter()
        answer = generate_answer(module.model, module.projector, module.tokenizer, datamodule.question_ids(planet),
                                 test["fusion_embedding"][i : i + 1], lc.max_new_tokens)
        latencies.append(time.perf_counter() - started)
        state, fraction = parse_answer(answer)
        rows.append({"planet": planet, "observed": bool(test["observed"][i]), "answer": answer, "state": state, "habitable_fraction": fraction, "biosphere": parse_biosphere(answer),
                     "true_state": STATES[int(params["climate_state"].iloc[planet])], "true_habitable_fraction": float(params["habitable_fraction"].iloc[planet]),
                     "true_biosphere": bool(atmosphere["biosphere"].iloc[planet]), "fusion_state": STATES[int(test["fusion_state"][i])],
                     "fusion_biosphere": bool(test["fusion_p_biosphere"][i] > 0.5)})
    atomic_write_json(run_dir / "answers.json", rows)
    module.model.save_pretrained(run_dir / "adapter")
    if module.projector is not None:
        save_file({k: v.contiguous() for k, v in module.projector.state_dict().items()}, run_dir / "projector.safetensors")
    module.tokenizer.save_pretrained(run_dir / "tokenizer")
    errors = [abs(r["habitable_fraction"] - r["true_habitable_fraction"]) for r in rows if r["habitable_fraction"] is not None]
    observed = [r for r in rows if r["observed"]]
    train = datamodule.indices["train"]
    majority_state = STATES[int(np.bincount(params["climate_state"].to_numpy()[train]).argmax())]
    majority_biosphere = bool(atmosphere["biosphere"].to_numpy()[train].mean() > 0.5)
    metrics = {
        "answers_generated": len(rows),
        "parsed_state_share": share([r["state"] is not None for r in rows]),
        "answer_state_accuracy": share([r["state"] == r["true_state"] for r in rows]),
        "answer_agrees_with_fusion": share([r["state"] == r["fusion_state"] for r in rows]),
        "majority_answer_agrees_with_fusion": share([r["fusion_state"] == majority_state for r in rows]),  # what a prefix-blind constant answer gets
        "fusion_state_accuracy_same_planets": share([r["fusion_state"] == r["true_state"] for r in rows]),
        "answer_habitable_fraction_mae": float(np.mean(errors)) if errors else None,  # None: no answer gave a fraction
        "answer_state_accuracy_from_parameters_alone": share([r["state"] == r["true_state"] for r in rows if not r["observed"]]),
        "fusion_state_accuracy_from_parameters_alone": share([r["fusion_state"] == r["true_state"] for r in rows if not r["observed"]]),
        "majority_state_accuracy_same_planets": share([r["true_state"] == majority_state for r in rows]),
        "answer_biosphere_accuracy": share([r["biosphere"] == r["true_biosphere"] for r in observed]),  # where the question gives observations
        "fusion_biosphere_accuracy_same_planets": share([r["fusion_biosphere"] == r["true_biosphere"] for r in observed]),
        "majority_biosphere_accuracy_same_planets": share([r["true_biosphere"] == majority_biosphere for r in observed]),
        "biosphere_left_unassessed_without_observations": share([r["biosphere"] is None for r in rows if not r["observed"]]),
        "generation_latency_ms": 1000 * float(np.median(latencies)),
        **module.before,
    }
    merged = module.model.merge_and_unload()  # last: it folds the adapters into the base weights
    merged.save_pretrained(run_dir / "merged")
    return metrics


def share(flags: list[bool]) -> float | None:
    """Fraction of true flags; None when there are none to count (e.g. no planet without observations)."""
    return float(np.mean(flags)) if flags else None
