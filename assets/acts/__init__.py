"""Activation clusters: which categories of reasoning steps a thinking model's layer encodes."""
