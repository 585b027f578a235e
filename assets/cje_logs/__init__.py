"""Build CJE logs with real policies, as the source pipeline's phase 1 does: prompts, responses
with log-probabilities, teacher forcing, judge scores and oracle labels (see README.md)."""
