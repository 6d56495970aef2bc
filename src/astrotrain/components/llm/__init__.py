"""The LLM component (issue #8, in progress): instruction data about universe planets.

Built so far: `instructions.py` (question/answer pairs with several phrasings, deterministic
from the seed, and the parser that reads the climate state and habitable fraction back out of
an answer). Not yet: the model, LoRA/QLoRA, the projector and phase 3 of the pipeline.
"""
