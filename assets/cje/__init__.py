"""Causal judge evaluation: off-policy estimates of LLM policies from logged responses."""
