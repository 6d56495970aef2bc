"""The training engine: config → Lightning Trainer, atomic checkpoints, exact resume, run directory."""
