"""Data treatment shared by every component: splits by planet, normalisation fitted on train only."""
