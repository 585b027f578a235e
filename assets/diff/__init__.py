"""Dataset difference: an LLM writes a classifier prompt that tells dataset A from dataset B."""
