"""The LLM component (issue #8, in progress): instruction data about universe planets.

Built so far: `instructions.py` (question/answer pairs with several phrasings, deterministic
from the seed, and the parsers that read the climate state, the habitable fraction and the
biosphere verdict back out of an answer) and `model.py` (local tokenizer, tiny Llama, any HF
causal LM, LoRA/QLoRA wrapping, the fusion prefix projector). Not yet: its config section,
data module, training module, `astrotrain explain`, and phase 3 of the pipeline.
"""
