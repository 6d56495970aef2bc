"""What every Lightning component shares: held-out metric bookkeeping, AdamW groups, the warm-up + cosine schedule."""
