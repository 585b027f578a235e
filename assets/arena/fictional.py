"""A small synthetic arena with planted behaviours, to test that the pipeline recovers them.

Four fictional models answer real Arena prompts from templates: `bullets` always answers in a
bulleted list, `apologetic` always apologises first, `curious` always ends with a question to the
user, `plain` does none of these. Each battle also carries its ground truth: the planted
behaviours as describer-style properties (several paraphrases each, so that clustering has work
to do). Winners follow a planted preference: bullets win more often.

One behaviour is never in the ground truth's properties, so no describer source that reads it
mentions it: `summary` (any model's response closes with "In short, ..." in a seeded half of the
responses), worth `SUMMARY_EFFECT` log-odds of winning within every model. Only a pass that scores
every battle (the rubric: arena.behaviour_scores) can find it. `planted_answer` is the scorer's
ground truth for every planted behaviour, read off the response's text (`MARKERS`).

The SQL model `arena.planted_recovery` scores a finished run (`python -m vibescope arena
recovery` prints it): for each planted model, the cluster holding most of its properties and the
share of that cluster that is the model's own (recovered at >= 80%).
"""

import itertools
import json

import numpy as np
import pandas as pd

DEFAULT_BATTLES = 120  # where num_samples is 0 (all): a fictional set has no "all"

BEHAVIOURS = {
    "bullets": ("Formatting", "Style", [
        "Answers in a bulleted list", "Uses bullet points to structure the answer",
        "Formats the response as a list of bullet points", "Breaks the answer into bulleted items"]),
    "apologetic": ("Tone", "Negative", [
        "Apologises before answering", "Starts the response with an apology",
        "Opens with an unnecessary apology", "Says sorry at the beginning of the reply"]),
    "curious": ("Engagement", "Positive", [
        "Ends with a question to the user", "Closes by asking the user a follow-up question",
        "Finishes the reply with a question back to the user", "Asks the user a question at the end"]),
}
MODELS = ["fictional-bullets", "fictional-apologetic", "fictional-curious", "fictional-plain"]
SUMMARY_EFFECT = 1.0
MARKERS = {"bullets": "\n- ", "apologetic": "I'm sorry", "curious": "go into more detail?", "summary": "In short,"}
WIN_STRENGTH = {"fictional-bullets": 1.0, "fictional-curious": 0.3, "fictional-plain": 0.0,
                "fictional-apologetic": -0.6}


def answer(model: str, prompt: str, summary: bool = False) -> str:
    topic = " ".join(prompt.split()[:6]).rstrip("?.!,")
    points = [f"The request is about {topic}.", "The main idea is explained briefly.",
              "A short example helps to make it concrete."]
    if model == "fictional-bullets":
        body = "\n".join(f"- {p}" for p in points)
    else:
        body = " ".join(points)
    if model == "fictional-apologetic":
        body = "I'm sorry, I will do my best. " + body
    if model == "fictional-curious":
        body += " Would you like me to go into more detail?"
    if summary:
        body += f"\nIn short, {topic} comes down to the main idea."
    return body


def planted_key(name: str, example: str = "") -> str | None:
    """The planted behaviour a scored behaviour stands for: its name, or one of its phrasings."""
    for key, (_, _, phrasings) in BEHAVIOURS.items():
        if name == key or example in phrasings:
            return key
    return name if name in MARKERS else None


def planted_answer(key: str | None, response_a: str, response_b: str) -> str:
    """Which response shows the planted behaviour more: A, B or equal (one the set never plants: equal)."""
    if key is None:
        return "equal"
    a, b = MARKERS[key] in "\n" + response_a, MARKERS[key] in "\n" + response_b
    return "A" if a and not b else "B" if b and not a else "equal"


def planted(model: str, side: str, rng: np.random.Generator) -> list[dict]:
    key = model.removeprefix("fictional-")
    if key not in BEHAVIOURS:
        return []
    category, kind, phrasings = BEHAVIOURS[key]
    return [{"model": side, "property_description": str(rng.choice(phrasings)), "category": category,
             "type": "General", "impact": "Medium", "reason": "planted behaviour", "evidence": [],
             "contains_errors": False, "unexpected_behavior": False, "behavior_type": kind}]


def battles(prompts: list[str], n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    summaries = np.random.default_rng(seed + 1).random((n, 2)) < 0.5  # its own stream: the rest stays as it was
    pairs = list(itertools.permutations(MODELS, 2))
    rows = []
    for i in range(n):
        a, b = pairs[rng.integers(len(pairs))]
        prompt = prompts[i % len(prompts)]
        s_a, s_b = summaries[i]
        margin = WIN_STRENGTH[a] - WIN_STRENGTH[b] + SUMMARY_EFFECT / 2 * (int(s_a) - int(s_b))
        p_a = 1 / (1 + np.exp(-2 * margin))
        u = rng.random()
        winner = "tie" if u < 0.1 else ("model_a" if rng.random() < p_a else "model_b")
        rows.append({"battle_id": f"fictional_{i}", "model_a": a, "model_b": b,
                     "prompt_turns": [prompt], "response_a_turns": [answer(a, prompt, s_a)],
                     "response_b_turns": [answer(b, prompt, s_b)], "winner": winner,
                     "planted_properties": json.dumps(planted(a, "A", rng) + planted(b, "B", rng))})
    return pd.DataFrame(rows)
