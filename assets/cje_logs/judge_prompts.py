"""Prompts of the judge and the oracle. The oracle has its own, stricter rubric: on the embedded
default both roles are the same small model, and with one rubric every oracle label would be the
judge's own answer (the same call, from the cache), which calibrates nothing."""

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

# The oracle: correctness first, graded against what an expert would answer. With a stronger model
# (the [roles.oracle] model) it stands in for human labels; on the embedded model it is a stand-in.
ORACLE_RUBRIC = """You are an expert grader. First work out what a correct, complete answer to the
user's request would contain. Then grade the assistant's answer against it: factual errors and
missing parts weigh most, then clarity. {scale}

User request:
{prompt}

Assistant's answer:
{response}"""
