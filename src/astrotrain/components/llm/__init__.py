"""The LLM component (issue #8): a causal LM that explains a planet, grounded in the fusion embedding.

`instructions.py` (question/answer pairs, several phrasings, deterministic from the seed, and
the parsers that read an answer back), `model.py` (local tokenizer, tiny Llama, any HF causal
LM, LoRA/QLoRA, the prefix projector), `data.py` (pairs + fusion's reading of each planet),
`module.py` (offline pre-training, then LoRA + projector), `report.py` (answers scored, adapters
and merged model saved), `explain.py` (`astrotrain explain --run RUN --planet NAME`).
"""
