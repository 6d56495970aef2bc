"""The run directory: its layout, its checkpoints (verified, weights-only), and what a finished run holds."""
