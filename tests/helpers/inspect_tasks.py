"""Tiny Inspect AI tasks whose logs the Inspect tests read: run by inspect-ai itself against a model
on 127.0.0.1 (llama.cpp's OpenAI-compatible server), so the `.eval` files are Inspect's own.

    answers(style, extra)  questions answered in a style ("brief" or "long"), scored by `includes`
    pairwise()             a judge asked which of two responses is better (the samples' metadata
                           hold both), its first A or B the verdict
"""

import re

from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.scorer import Score, Target, accuracy, includes, scorer
from inspect_ai.solver import TaskState, generate, system_message

QUESTIONS = [("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Spain", "Madrid"), ("Egypt", "Cairo"),
             ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Chile", "Santiago")]
STYLES = {"brief": "Answer in one word.", "long": "Answer in a long paragraph with a history of the country."}
BATTLES = [
    ("What is 2 + 2?", "4.", "The answer is 4, since two and two make four."),
    ("Name a primary colour.", "Red.", "Blue, one of the three primary colours of paint."),
    ("Say hello in French.", "Bonjour.", "In French, hello is 'bonjour'."),
]


def answers(style: str, extra: int = 0) -> Task:
    samples = [Sample(id=f"q{i}", input=f"What is the capital of {country}?", target=capital)
               for i, (country, capital) in enumerate(QUESTIONS[:6 + extra])]
    return Task(name=f"capitals_{style}", dataset=samples, solver=[system_message(STYLES[style]), generate()],
                scorer=includes())


@scorer(metrics=[accuracy()])
def first_letter_verdict():
    async def score(state: TaskState, target: Target) -> Score:
        found = re.search(r"\b([AB])\b", state.output.completion)
        return Score(value=found[1] if found else "tie", answer=state.output.completion)

    return score


def pairwise() -> Task:
    samples = [Sample(id=f"battle{i}", input=(f"Question: {q}\n\nResponse A: {a}\n\nResponse B: {b}\n\n"
                                               "Which response is better? Answer with the letter A or B."),
                      metadata={"model_a": "terse-model", "model_b": "chatty-model", "response_a": a,
                                "response_b": b, "prompt": q})
               for i, (q, a, b) in enumerate(BATTLES)]
    return Task(name="pairwise_judge", dataset=samples, solver=generate(), scorer=first_letter_verdict())


def write_log(task: Task, base_url: str, log_dir) -> str:
    """Run `task` on the server's model; the path of the `.eval` log Inspect wrote."""
    (log,) = eval(task, model="openai-api/llama/smollm2", model_base_url=base_url, log_dir=str(log_dir),
                  max_tokens=24, temperature=0.0, display="none")
    assert log.status == "success", log.error
    return log.location
