"""The training engine: config → Lightning Trainer, atomic checkpoints, exact resume, one recipe interface."""
