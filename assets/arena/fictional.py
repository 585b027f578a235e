"""A small synthetic arena with planted behaviours, to test that the pipeline recovers them.

Four fictional models answer real Arena prompts from templates: `bullets` always answers in a
bulleted list, `apologetic` always apologises first, `curious` always ends with a question to the
user, `plain` does none of these. Each battle also carries its ground truth: the planted
behaviours as describer-style properties (several paraphrases each, so that clustering has work
to do). Winners follow a planted preference: bullets win more often.

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
WIN_STRENGTH = {"fictional-bullets": 1.0, "fictional-curious": 0.3, "fictional-plain": 0.0,
                "fictional-apologetic": -0.6}


def answer(model: str, prompt: str) -> str:
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
    return body


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
    pairs = list(itertools.permutations(MODELS, 2))
    rows = []
    for i in range(n):
        a, b = pairs[rng.integers(len(pairs))]
        prompt = prompts[i % len(prompts)]
        margin = WIN_STRENGTH[a] - WIN_STRENGTH[b]
        p_a = 1 / (1 + np.exp(-2 * margin))
        u = rng.random()
        winner = "tie" if u < 0.1 else ("model_a" if rng.random() < p_a else "model_b")
        rows.append({"battle_id": f"fictional_{i}", "model_a": a, "model_b": b,
                     "prompt_turns": [prompt], "response_a_turns": [answer(a, prompt)],
                     "response_b_turns": [answer(b, prompt)], "winner": winner,
                     "planted_properties": json.dumps(planted(a, "A", rng) + planted(b, "B", rng))})
    return pd.DataFrame(rows)
