"""What every pipeline shares: the LLM call log and a check that each role's backend answers."""
