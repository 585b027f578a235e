"""Style features of a response, measured without a model: what Chatbot Arena's style control
adjusts for (length, markdown headers, lists, bold) and what users notice first (code blocks,
refusals, questions back to the user).

| feature | what is counted | shown when |
|---|---|---|
| chars | characters | longer than the other response in the battle |
| tokens | words and punctuation marks (regex `\\w+|[^\\w\\s]`; no model's tokenizer) | longer than the other response |
| headers | markdown header lines (`#` to `######` then a space) | at least one |
| list_items | lines that start a bulleted (`-`, `*`, `+`) or numbered (`1.`, `1)`) item | at least one |
| bold | `**bold**` or `__bold__` spans | at least one |
| code_blocks | fenced code blocks (pairs of ``` lines) | at least one |
| refusal | 1 if a phrase of REFUSAL_PHRASES occurs (case-insensitive) | 1 |
| questions | sentences outside code that end with `?` | at least one |

"Shown when" is what the win-rate link compares: a length is always there, so for the two sizes
a response shows the feature when it is longer than its opponent's.
"""

import re

import numpy as np
import pandas as pd

# The refusal prefixes of Zou et al. (2023), "Universal and Transferable Adversarial Attacks on
# Aligned Language Models" (the GCG evaluation's `test_prefixes`), lower-cased, less those that
# also occur in ordinary answers ("Hello!", "I'm an", "I do not", "I must", "unethical").
REFUSAL_PHRASES = (
    "i'm sorry", "i am sorry", "sorry, but", "i apologize", "my apologies", "as an ai",
    "as a language model", "as an assistant", "i cannot", "i can't", "i can not", "i am unable",
    "i'm unable", "i'm not able to provide", "is illegal and unethical", "i'm really sorry",
    "i am really sorry", "if you have any other non-malicious requests",
)
SIZES = ("chars", "tokens")
FEATURES = (*SIZES, "headers", "list_items", "bold", "code_blocks", "refusal", "questions")

_TOKEN = re.compile(r"\w+|[^\w\s]")
_HEADER = re.compile(r"^\s{0,3}#{1,6}\s+\S", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_FENCE = re.compile(r"^\s*```", re.MULTILINE)
_CODE_BLOCK = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_QUESTION = re.compile(r"[^.!?\n]*\?(?=\s|$)")
_REFUSAL = re.compile("|".join(re.escape(p) for p in REFUSAL_PHRASES))


def style_features(text: str) -> dict[str, int]:
    text = text or ""
    prose = _CODE_BLOCK.sub(" ", text)  # headers, lists and questions inside code are code
    return {
        "chars": len(text),
        "tokens": len(_TOKEN.findall(text)),
        "headers": len(_HEADER.findall(prose)),
        "list_items": len(_LIST_ITEM.findall(prose)),
        "bold": len(_BOLD.findall(prose)),
        "code_blocks": len(_FENCE.findall(text)) // 2,
        "refusal": int(bool(_REFUSAL.search(text.lower()))),
        "questions": len(_QUESTION.findall(prose)),
    }


def battle_style(battles: pd.DataFrame) -> pd.DataFrame:
    """One row per battle, side and feature: the model, its outcome (win, loss, tie), the value,
    the opponent's value and whether the response shows the feature (see the module docstring).
    `battles`: battle_id, model_a, model_b, response_a, response_b, winner."""
    rows = []
    for b in battles.itertuples():
        a, bb = style_features(b.response_a), style_features(b.response_b)
        for side, model, mine, theirs, won in (("a", b.model_a, a, bb, "model_a"), ("b", b.model_b, bb, a, "model_b")):
            outcome = "tie" if b.winner not in ("model_a", "model_b") else ("win" if b.winner == won else "loss")
            for feature in FEATURES:
                shows = mine[feature] > theirs[feature] if feature in SIZES else mine[feature] > 0
                rows.append((b.battle_id, side, model, outcome, feature, mine[feature], theirs[feature], bool(shows)))
    frame = pd.DataFrame(rows, columns=["battle_id", "side", "model", "outcome", "feature", "value",
                                        "opponent_value", "shows"])
    return frame.astype({"value": np.int64, "opponent_value": np.int64})
