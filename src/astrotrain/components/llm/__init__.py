"""The LLM: a causal LM that explains a planet, grounded in the fusion embedding (phase 3).

`instructions.py` (question/answer pairs, several phrasings, deterministic from the seed, and
the parsers that read an answer back), `model.py` (local tokenizer, tiny Llama, any HF causal
LM, LoRA/QLoRA, the prefix projector), `data.py` (pairs + fusion's reading of each planet),
`module.py` (offline pre-training, then LoRA + projector), `report.py` (answers scored, adapters
and merged model saved), `explain.py` (`astrotrain explain --run RUN --planet NAME`).
"""

from __future__ import annotations

from ...config.spec import ComponentSpec
from .config import LLMConfig

SPEC = ComponentSpec(
    name="llm",
    task="LoRA/QLoRA causal LM that answers questions about a planet, grounded by prefix tokens projected from the fusion embedding",
    config=LLMConfig,
    phase="llm",
    datamodule="data:build_datamodule",
    module="module:build_module",
    report="report:report",
    science_metrics=("perplexity", "answer_nll"),
    hpo_metric=("perplexity", "minimize"),
    consumes={"fusion": "integrate"},
    produces=("adapter", "projector", "tokenizer", "merged model"),
)
