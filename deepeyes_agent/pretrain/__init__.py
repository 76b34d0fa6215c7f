"""Pretraining the embedded model on zoom-world skills (grounding, reading, direct answers, tool syntax)."""
