"""Prompts and the JSON schema of the arena pipeline's LLM steps."""

DESCRIBER_SYSTEM = (
    "You compare two AI assistants' responses to the same user prompt and list the behaviours "
    "that distinguish them. You never know which models wrote them."
)

DESCRIBER = """User prompt:
{prompt}

Response of model A:
{response_a}

Response of model B:
{response_b}

List 1 to {max_properties} behaviours in which A and B differ (two responses always differ in
something: length, structure, tone, content or correctness): for each, which model shows it,
a short general description (e.g. "Answers in a bulleted list"), a category, whether it is
general or specific to this prompt, its impact, why it matters, short quotes as evidence, whether
it contains errors, whether it is unexpected, and whether it is positive, negative or style."""

# Length caps end the looping strings of small models (SmolLM2 ran 4 of 16 answers to max_tokens
# repeating one phrase); backends that refuse maxLength get the schema without it.
PROPERTY = {
    "type": "object",
    "properties": {
        "model": {"enum": ["A", "B"]},
        "property_description": {"type": "string", "maxLength": 160},
        "category": {"type": "string", "maxLength": 60},
        "type": {"enum": ["General", "Context-Specific"]},
        "impact": {"enum": ["Low", "Medium", "High"]},
        "reason": {"type": "string", "maxLength": 240},
        "evidence": {"type": "array", "items": {"type": "string", "maxLength": 200}, "maxItems": 2},
        "contains_errors": {"type": "boolean"},
        "unexpected_behavior": {"type": "boolean"},
        "behavior_type": {"enum": ["Positive", "Negative", "Style"]},
    },
    "required": ["model", "property_description", "category", "type", "impact", "reason", "evidence",
                 "contains_errors", "unexpected_behavior", "behavior_type"],
    "additionalProperties": False,
}


def differences_schema(max_properties: int) -> dict:
    # minItems 1: without it SmolLM2 returned an empty list for 55 of 102 battles (measured)
    return {"type": "object", "properties": {"properties": {"type": "array", "items": PROPERTY,
                                                            "minItems": 1, "maxItems": max_properties}},
            "required": ["properties"], "additionalProperties": False}


SCORER_SYSTEM = (
    "You compare two AI assistants' responses to the same user prompt on a fixed list of behaviours. "
    "For each behaviour you say which response shows it more, or that they show it equally (including "
    "when neither shows it). You never know which models wrote them."
)

SCORER = """User prompt:
{prompt}

Response A:
{response_a}

Response B:
{response_b}

For each behaviour below, answer "A" if response A shows it more, "B" if response B shows it more,
or "equal" if they show it to the same degree or neither shows it. Judge the responses, not their
order.

{behaviours}"""


def scorer_schema(keys: list[str]) -> dict:
    """One field per behaviour (VibeCheck batches a pair's vibes in one call the same way)."""
    return {"type": "object", "properties": {k: {"enum": ["A", "B", "equal"]} for k in keys},
            "required": list(keys), "additionalProperties": False}


def behaviour_list(keys: list[str], names: list[str], descriptions: list[str]) -> str:
    return "\n".join(f"{k}: {n}" + (f" ({d})" if d and d != n else "") for k, n, d in zip(keys, names, descriptions))


CLUSTER_LABEL = """These descriptions of AI-assistant behaviours were grouped together:
{members}

Words that set the group apart from the other groups (c-TF-IDF): {keywords}

These nearby descriptions are NOT in the group:
{non_members}

Give the group a short label (at most 8 words) and one sentence saying what it covers and how it
differs from the descriptions not in the group."""

CATEGORY_LABEL = """These user prompts to an AI assistant were grouped together:
{members}

Words that set them apart from the other groups (c-TF-IDF): {keywords}

Name the topic they share in at most 5 words."""

LABEL_SCHEMA = {"type": "object", "properties": {"label": {"type": "string"}, "description": {"type": "string"}},
                "required": ["label", "description"], "additionalProperties": False}
NAME_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
               "additionalProperties": False}
