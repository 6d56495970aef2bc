"""Multimodal fusion (phase 2, "integrate"): a transformer over the encoders the pretrained components lend."""
