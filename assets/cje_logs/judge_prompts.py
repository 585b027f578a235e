"""Prompts of the judge and the oracle (the same rubric; the oracle role is the stronger model)."""

RUBRIC = """Rate how good the assistant's answer to the user's request is: helpful, correct, clear
and complete. {scale}

User request:
{prompt}

Assistant's answer:
{response}"""

DETERMINISTIC_SCALE = 'Reply with JSON {"score": N}, N an integer from 0 (useless) to 10 (excellent).'

# Each score must be a single token for its probability to be read off: digits 0-9 are
UNCERTAINTY_SCALE = "Reply with one digit from 0 (useless) to 9 (excellent), nothing else."
UNCERTAINTY_OPTIONS = [str(d) for d in range(10)]

# an enum, not minimum/maximum: llama.cpp's grammar enforces the alternatives, not numeric bounds
SCORE_SCHEMA = {"type": "object", "properties": {"score": {"enum": list(range(11))}},
                "required": ["score"], "additionalProperties": False}
