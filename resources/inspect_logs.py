"""Inspect AI evaluation logs (`.eval`) as rows: one per sample and epoch, read with inspect-ai's own
log reader (the optional extra: `pip install -e '.[inspect]'`).

Columns: `id`, `epoch`, `sample` (the pairing key: the id, with `#<epoch>` where a log has several
epochs), `model`, `task`, `question` (the input's text: the user turns of a chat input), `answer` (the
output's completion), `target`, `error`, `score` (the first scorer's value as a number, Inspect's own
`value_to_float`: C = 1, I = 0, P = 0.5) and `score_<scorer>` for each, then the sample's metadata.

A **pairwise** log (each sample's metadata holds `model_a`, `model_b`, `response_a`, `response_b`,
the first scorer's value the verdict, as a pairwise judging task writes it) reads as battles:
`prompt` (the metadata's, else the judge's input) and `winner` (`A`, `A>B`, `A>>B` -> model_a; the
same for B; `tie`, `A=B` -> tie; anything else is kept, for arena.battles to name).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

PAIRWISE = ("model_a", "model_b", "response_a", "response_b")
VERDICTS = {**{v: "model_a" for v in ("A", "A>B", "A>>B", "model_a")},
            **{v: "model_b" for v in ("B", "B>A", "B>>A", "model_b")},
            **{v: "tie" for v in ("tie", "TIE", "A=B", "B=A", "tie (bothbad)")}}


def _text(content) -> str:
    """The text of an input or target: a string, chat messages (their user turns), or a list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for item in content:
            role = getattr(item, "role", None)
            if role is None:
                parts.append(_text(item))
            elif role == "user":
                parts.append(item.text)
        return "\n\n".join(p for p in parts if p)
    return str(content)


def _scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def read_inspect_log(path: str | Path) -> pd.DataFrame:
    from resources.datasets import DatasetError

    try:
        from inspect_ai.log import read_eval_log
        from inspect_ai.scorer import value_to_float
    except ImportError:
        raise DatasetError(f"{path}: reading an Inspect log needs the inspect-ai package: "
                           "pip install -e '.[inspect]'") from None
    try:
        log = read_eval_log(str(path))
    except Exception as exc:  # a zip that is not a log, a cut file: name it
        raise DatasetError(f"{path}: not an Inspect log that inspect-ai can read ({type(exc).__name__}: {exc})") from None
    if not log.samples:
        raise DatasetError(f"{path}: the log holds no samples (status {log.status}); a log written with "
                           "--no-log-samples keeps only the results")
    to_float = value_to_float()
    several_epochs = any(s.epoch > 1 for s in log.samples)
    rows = []
    for s in log.samples:
        row = {"id": str(s.id), "epoch": s.epoch, "sample": f"{s.id}#{s.epoch}" if several_epochs else str(s.id),
               "model": log.eval.model, "task": log.eval.task, "question": _text(s.input),
               "answer": s.output.completion if s.output else "", "target": _text(s.target),
               "error": s.error.message if s.error else None, "score": None, "verdict": None}
        for i, (name, score) in enumerate((s.scores or {}).items()):
            number = to_float(score.value) if _scalar(score.value) else None
            row[f"score_{name}"] = number
            if i == 0:
                row["score"], row["verdict"] = number, score.value if isinstance(score.value, str) else None
        row.update({k: v for k, v in (s.metadata or {}).items() if k not in row and _scalar(v)})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if set(PAIRWISE) <= set(frame.columns):
        verdict = frame.verdict.fillna("").astype(str).str.strip()
        frame = frame.assign(prompt=frame["prompt"] if "prompt" in frame else frame.question,
                             winner=verdict.map(VERDICTS).fillna(verdict.replace("", "(none)")))
    return frame.drop(columns="verdict")
