"""Prompts and JSON schemas of the activation-clusters pipeline's LLM steps (namer and grader)."""

NAMER = """Below are sentences from a language model's step-by-step reasoning. They were grouped
together because the model's internal representations of them are similar.

Words that set the group apart from the other groups (c-TF-IDF): {keywords}

Sentences most typical of the group:
{central}

Other sentences from the group:
{random}

For context, whole reasoning traces that contain sentences of the group:
{traces}

Name the kind of reasoning step these sentences have in common (a title of at most 6 words),
and describe the category in two sentences: what it covers, and what it does not cover."""

# Length caps keep the answer inside the namer's token budget: without them SmolLM2 ran out of
# tokens mid-string for 4 of 22 titles on one CPU's numerics, and a whole repetition went ungraded.
TITLE_SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 60},
                   "description": {"type": "string", "minLength": 1, "maxLength": 400}},
    "required": ["title", "description"],
    "additionalProperties": False,
}

MEMBERSHIP = """Category: {title}
{description}

Sentence from a model's reasoning: "{sentence}"

Does the sentence belong to this category? Answer with a JSON object {{"belongs": true}} or {{"belongs": false}}."""

MEMBERSHIP_SCHEMA = {"type": "object", "properties": {"belongs": {"type": "boolean"}},
                     "required": ["belongs"], "additionalProperties": False}

COMPLETENESS = """Category: {title}
{description}

Sentence from a model's reasoning: "{sentence}"

How well does the description fit this sentence, from 0 (not at all) to 10 (perfectly)?
Answer with a JSON object {{"score": <0-10>}}."""

SIMILARITY = """Category 1: {title_a}
{description_a}

Category 2: {title_b}
{description_b}

How similar are the two categories, from 0 (completely different) to 10 (the same)?
Answer with a JSON object {{"score": <0-10>}}."""

SCORE_SCHEMA = {"type": "object", "properties": {"score": {"type": "integer", "minimum": 0, "maximum": 10}},
                "required": ["score"], "additionalProperties": False}
