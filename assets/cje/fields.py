"""cje-eval's JSONL records, read and checked field by field: each rule names the file and line
(or table row) it refuses, and `draw_tables` turns one policy's draws into table rows a column at a
time, falling back to these rules row by row where a column fails (used by logged_data.py)."""

import json
import math
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from resources.datasets import MAX_TEXT_CHARS, DatasetError, utf8_problem

KEY = ["prompt_id", "policy", "source", "draw_idx"]
_KEY = [("prompt_id", pa.string()), ("policy", pa.string()), ("source", pa.string()), ("draw_idx", pa.int64())]
SCHEMAS = {  # the input tables as either reading path writes them (logged_data.py, clean_files.py)
    "prompts": pa.schema([("prompt_id", pa.string()), ("prompt", pa.string())]),
    "teacher_forced_logprobs": pa.schema([("prompt_id", pa.string()), ("policy", pa.string()), ("logprob", pa.float64())]),
    "responses": pa.schema([*_KEY, ("response", pa.string()), ("token_logprobs", pa.list_(pa.float64()))]),
    "judge_scores": pa.schema([*_KEY, ("judge_score", pa.float64())]),
    "oracle_labels": pa.schema([*_KEY, ("oracle_label", pa.float64()), ("split", pa.string())]),
}
Rows = list[tuple[str, dict]]  # (where: "file:line" or the table row, the record)


def loads(line: str):
    """One JSON value: orjson (about 3x the standard library's speed), or the standard library for
    what orjson refuses and cje-eval's files hold (-Infinity, NaN) and for the error message."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def read_jsonl(path: Path, required: tuple[str, ...]) -> Rows:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    problem = utf8_problem(path)
    if problem:
        raise DatasetError(f"{path}: not UTF-8 text ({problem}); save it as UTF-8")
    rows, name = [], str(path)
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        if len(line) > 2 * MAX_TEXT_CHARS:  # a prompt and a response, each at most the text limit
            raise DatasetError(f"{path}:{line_no}: {len(line):,} characters in one row; rows over "
                               f"{2 * MAX_TEXT_CHARS:,} are refused")
        try:
            row = loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{line_no}: not JSON ({exc})") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{path}:{line_no}: a JSON {type(row).__name__}, not an object: JSONL holds one "
                               "object per line")
        if not all(k in row for k in required):
            missing = [k for k in required if k not in row]
            raise DatasetError(f"{path}:{line_no}: missing field(s) {', '.join(missing)}")
        rows.append((f"{name}:{line_no}", row))
    if not rows:
        raise DatasetError(f"{path}: no rows")
    return rows


def prompt_id(row: dict, where: str) -> str:
    pid = row.get("prompt_id") or (row.get("metadata") or {}).get("prompt_id")
    if not pid:
        raise DatasetError(f"{where}: no prompt_id (top level or metadata.prompt_id)")
    return str(pid)


def _number(value, field: str, where: str) -> float:
    """A number from a record; null is NaN; anything else (text, a list, true) names the row."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DatasetError(f"{where}: {field} is {json.dumps(value)[:60]}, not a number")
    return float(value)


def logprob(value, field: str, where: str) -> float:
    """A log-probability: -inf (JSON -Infinity) is a response the policy cannot sample, weight 0;
    null, NaN, positive, or -inf for the base are kept and flagged downstream
    (cje.importance_weights.problem, counted in weight_diagnostics and guard_rails)."""
    return _number(value, field, where)


def judge_score(row: dict, where: str) -> float:
    """A judge score: every row needs a finite one (calibration and the estimators use them all)."""
    value = _number(row.get("judge_score"), "judge_score", where)
    if not math.isfinite(value):
        raise DatasetError(f"{where}: judge_score is {'null' if row.get('judge_score') is None else value}; "
                           "every row needs a finite judge score (score it, or leave the row out)")
    return value


def oracle_label(row: dict, where: str) -> float | None:
    """An oracle label in [0, 1], or None where the row has none (null or NaN)."""
    value = _number(row.get("oracle_label"), "oracle_label", where)
    if math.isnan(value):
        return None
    if not 0 <= value <= 1:
        raise DatasetError(f"{where}: oracle_label {value:g} is outside [0, 1]")
    return value


def token_logprobs(row: dict, where: str) -> list[float] | None:
    """metadata.token_logprobs, where a record has them (the built logs do): a list of numbers."""
    values = (row.get("metadata") or {}).get("token_logprobs")
    if values is None:
        return None
    if not isinstance(values, list):
        raise DatasetError(f"{where}: metadata.token_logprobs is {json.dumps(values)[:60]}, not a list of numbers")
    return [_number(v, f"metadata.token_logprobs[{i}]", where) for i, v in enumerate(values)]


def draw_index(row: dict, where: str) -> int:
    """A draw's index: absent or null is 0."""
    value = row.get("draw_idx")
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
        raise DatasetError(f"{where}: draw_idx is {json.dumps(value)[:60]}, not a whole number >= 0")
    return int(value)


def _numbers(values: list, allow_none: bool) -> np.ndarray | None:
    """The values as floats (None -> NaN where allowed), or None when any is of another type (then
    the row-by-row check names it)."""
    kinds = set(map(type, values))
    if not kinds <= ({float, int, type(None)} if allow_none else {float, int}):
        return None
    return np.array(values, dtype=np.float64)


def text(record: dict, field: str, where: str, required: bool = True) -> str:
    """A prompt or response: text (a draw's may be absent or null, then empty)."""
    value = record.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise DatasetError(f"{where}: {field} is {json.dumps(value)[:60]}, not text")
    return value


def target_logprobs(record: dict, where: str) -> dict:
    """target_policy_logprobs: an object of policy -> log-probability (absent or null: none)."""
    value = record.get("target_policy_logprobs") or {}
    if not isinstance(value, dict):
        raise DatasetError(f"{where}: target_policy_logprobs is not an object of policy -> log-probability")
    return value


def draw_tables(policy: str, source: str, rows: Rows, prompts: dict[str, str]) -> dict[str, pd.DataFrame]:
    """One policy's fresh draws or probe rows as table rows, checked a column at a time (a million
    draws per policy is common); where a column fails a check, the row-by-row checks run on it and
    name the first bad row. Adds each prompt not seen yet to `prompts`."""
    records = [r for _, r in rows]
    pids = [str(r["prompt_id"]) for r in records]
    for pid, (where, record) in zip(pids, rows):
        prompts.setdefault(pid, text(record, "prompt", where, required=False))
    draws = [0 if r.get("draw_idx") is None else r["draw_idx"] for r in records]
    if not (set(map(type, draws)) <= {int} and min(draws) >= 0):
        draws = [draw_index(r, where) for where, r in rows]
    scores = [r.get("judge_score") for r in records]
    scored = np.array([v is not None for v in scores]) if source == "probe" else np.ones(len(records), bool)
    judge = _numbers([v for v, keep in zip(scores, scored) if keep], allow_none=False)
    if judge is None or not np.isfinite(judge).all():
        judge = np.array([judge_score(r, where) for (where, r), keep in zip(rows, scored) if keep])
    labels = _numbers([r.get("oracle_label") for r in records], allow_none=True)
    if labels is None or ((labels < 0) | (labels > 1)).any():
        labels = np.array([oracle_label(r, where) for where, r in rows], dtype=np.float64)
    tokens = [(r.get("metadata") or {}).get("token_logprobs") for r in records]
    if any(t is not None for t in tokens):
        tokens = [token_logprobs(r, where) for where, r in rows]
    key = pd.DataFrame({"prompt_id": pids, "policy": policy, "source": source, "draw_idx": draws})
    labelled = ~np.isnan(labels)
    return {"responses": key.assign(response=[text(r, "response", where, required=False) for where, r in rows],
                                    token_logprobs=tokens),
            "judge_scores": key[scored].assign(judge_score=judge),
            "oracle_labels": key[labelled].assign(oracle_label=labels[labelled], split=source)}
