"""After the test: answers generated for held-out planets, parsed and scored; the adapters saved.

For the first `eval_planets` test planets: greedy generation from [fusion prefix, question];
the climate state, habitable fraction and biosphere verdict are parsed back out of the answer
(instructions.parse_*) and scored against the truth and against fusion's own prediction.
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
def generate_answer(module, question_ids: torch.Tensor, fusion_embedding: torch.Tensor, max_new_tokens: int) -> str:
    inputs = prefixed_inputs(module.model, module.projector, fusion_embedding, question_ids, torch.ones_like(question_ids))
    tok = module.tokenizer
    out = module.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return tok.decode(out[0], skip_special_tokens=True)


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
        answer = generate_answer(module, datamodule.question_ids(planet), test["fusion_embedding"][i : i + 1], lc.max_new_tokens)
        latencies.append(time.perf_counter() - started)
        state, fraction = parse_answer(answer)
        rows.append({"planet": planet, "answer": answer, "state": state, "habitable_fraction": fraction, "biosphere": parse_biosphere(answer),
                     "true_state": STATES[int(params["climate_state"].iloc[planet])], "true_habitable_fraction": float(params["habitable_fraction"].iloc[planet]),
                     "true_biosphere": bool(atmosphere["biosphere"].iloc[planet]), "fusion_state": STATES[int(test["fusion_state"][i])]})
    atomic_write_json(run_dir / "answers.json", rows)
    module.model.save_pretrained(run_dir / "adapter")
    save_file({k: v.contiguous() for k, v in module.projector.state_dict().items()}, run_dir / "projector.safetensors")
    module.tokenizer.save_pretrained(run_dir / "tokenizer")
    errors = [abs(r["habitable_fraction"] - r["true_habitable_fraction"]) for r in rows if r["habitable_fraction"] is not None]
    metrics = {
        "answers_generated": len(rows),
        "parsed_state_share": float(np.mean([r["state"] is not None for r in rows])),
        "answer_state_accuracy": float(np.mean([r["state"] == r["true_state"] for r in rows])),
        "answer_agrees_with_fusion": float(np.mean([r["state"] == r["fusion_state"] for r in rows])),
        "fusion_state_accuracy_same_planets": float(np.mean([r["fusion_state"] == r["true_state"] for r in rows])),
        "answer_habitable_fraction_mae": float(np.mean(errors)) if errors else None,  # None: no answer gave a fraction
        "answer_biosphere_accuracy": float(np.mean([r["biosphere"] == r["true_biosphere"] for r in rows])),
        "generation_latency_ms": 1000 * float(np.median(latencies)),
        **module.before,
    }
    merged = module.model.merge_and_unload()  # last: it folds the adapters into the base weights
    merged.save_pretrained(run_dir / "merged")
    return metrics
