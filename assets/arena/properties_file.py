"""Behaviour properties in the file format of StringSight / LMM-Vibes, in and out.

In: one row per property, `question_id, model, property_description` and any of `category, type,
impact, reason, evidence, contains_errors, unexpected_behavior, behavior_type`; `model` is the
model's name (as StringSight writes it) or the side, A or B. Our own exports' `properties` files
(`battle_id`, `property_type`) read the same. A property belongs to the battle whose
`battle_id` is its `question_id`; with `model_a`/`model_b` columns beside it they must be that
battle's. Out: the same columns with the battle's (`prompt, model_a, model_b, model_a_response,
model_b_response, winner`) and the clusters' (`fine_cluster_id, fine_cluster_label,
coarse_cluster_id, coarse_cluster_label`), one row per property: a file that `arena.battles` and
`arena.battle_differences` (describer_source "file") read back as it went out.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from resources.datasets import DatasetError, read_file

REQUIRED = ["question_id", "model", "property_description"]
FIELDS = ["category", "type", "impact", "reason", "evidence", "contains_errors", "unexpected_behavior",
          "behavior_type"]
FLAGS = ("contains_errors", "unexpected_behavior")
BATTLE = ["prompt", "model_a", "model_b", "model_a_response", "model_b_response", "winner"]
CLUSTERS = ["fine_cluster_id", "fine_cluster_label", "coarse_cluster_id", "coarse_cluster_label"]
OURS = {"battle_id": "question_id", "property_type": "type"}  # our exports' `properties` names
# read and ignored without a word: our own exports' and StringSight's other columns
KNOWN = set(REQUIRED + FIELDS + BATTLE + CLUSTERS) | {
    "property_id", "id", "response_a", "response_b", "conversation_a", "conversation_b", "score", "meta",
    "property_description_cluster_id", "property_description_cluster_label", "embedding", "side", "outcome",
    "broad_category", "narrower_category", "was_outlier", "x", "y", "fine_label", "fine_keywords",
    "coarse_label", "coarse_keywords"}
TRUE, FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def _flag(value, where: str) -> bool | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE | FALSE:
        return text in TRUE
    raise DatasetError(f"{where}: {value!r} is not a boolean (true/false)")


def _evidence(value) -> list[str]:
    """A list of quotes, whether the cell holds a list, a JSON list or one quote."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value]
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return []
    if isinstance(value, str) and value.startswith("["):
        try:
            return [str(v) for v in json.loads(value)]
        except json.JSONDecodeError:
            pass
    return [str(value)]


def _text(value) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def read_properties(path: str | Path, battles: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """`arena.battle_differences` rows (every battle; `[]` where the file has none) and a report:
    rows read, rows without a property (skipped), ignored columns, properties whose question_id is
    not among the battles."""
    frame = read_file(path)
    frame = frame.rename(columns={ours: theirs for ours, theirs in OURS.items()
                                  if ours in frame.columns and theirs not in frame.columns})
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}; a properties file has "
                           f"{', '.join(REQUIRED)} and may have {', '.join(FIELDS)}")
    sides = battles.set_index("battle_id")[["model_a", "model_b"]]
    found: dict[str, list[dict]] = {}
    unmatched: list[str] = []
    without_property = 0
    for i, row in enumerate(frame.to_dict("records"), start=1):
        where = f"{path}: row {i}"
        battle_id = str(row["question_id"])
        if not (_text(row["property_description"]) or "").strip():  # a battle the extractor found nothing in
            without_property += 1
            continue
        if battle_id not in sides.index:
            unmatched.append(battle_id)
            continue
        model_a, model_b = sides.loc[battle_id]
        for column, name in (("model_a", model_a), ("model_b", model_b)):
            if column in row and _text(row[column]) is not None and str(row[column]) != name:
                raise DatasetError(f"{where}: {column} {row[column]!r} is not battle {battle_id}'s ({name!r})")
        model = _text(row["model"])
        side = model if model in ("A", "B") else "A" if model == model_a else "B" if model == model_b else None
        if side is None or (model not in ("A", "B") and model_a == model_b):
            raise DatasetError(f"{where}: model {model!r} is neither side of battle {battle_id} "
                               f"(model_a {model_a!r}, model_b {model_b!r}); give the model's name, or A or B")
        prop = {"model": side, "property_description": _text(row["property_description"])}
        for field in FIELDS:
            value = row.get(field)
            prop[field] = (_flag(value, f"{where}, column {field}") if field in FLAGS
                           else _evidence(value) if field == "evidence" else _text(value))
        found.setdefault(battle_id, []).append(prop)
    if unmatched and not found:
        raise DatasetError(f"{path}: no property's question_id is a battle of arena.battles (e.g. "
                           f"{', '.join(sorted(set(unmatched))[:5])}); materialize arena/battles from the same battles")
    rows = pd.DataFrame({"battle_id": battles.battle_id,
                         "properties_json": [json.dumps(found.get(b, [])) for b in battles.battle_id],
                         "error": None, "raw": None, "input_truncated": False})
    report = {"rows_read": len(frame), "properties": len(frame) - len(unmatched) - without_property,
              "rows_without_property": without_property,
              "ignored_columns": sorted(str(c) for c in set(frame.columns) - KNOWN),
              "unmatched_question_ids": sorted(set(unmatched))}
    return rows, report


def battle_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A StringSight side-by-side file (one row per property, or per battle) in the bundled
    sample's columns, one row per battle; the winner from `score.winner` where no column has it."""
    if "property_description" in frame.columns:
        frame = frame.drop_duplicates("question_id")
    if "winner" not in frame.columns and "score" in frame.columns:
        frame = frame.assign(winner=frame.score.map(lambda s: s.get("winner") if isinstance(s, dict) else None))
    return frame.rename(columns={"model_a_response": "response_a", "model_b_response": "response_b"})


def _score(row: dict) -> float | None:
    """A single-model row's score: `reward`, or `score` as a number or a one-number dict."""
    value = row.get("reward", row.get("score"))
    if isinstance(value, dict):
        numbers = [v for v in value.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        value = numbers[0] if len(numbers) == 1 else None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def single_model_battles(frame: pd.DataFrame, source: str, models: list[str]) -> pd.DataFrame:
    """A StringSight single-model file (`prompt, model, model_response`, and `reward` or `score`)
    as side-by-side battles: two models' answers to the same prompt (`question_id`, else the
    prompt's text), the higher score winning, equal scores a tie. Prompts that only one of the two
    models answered are left out (counted in the frame's attrs)."""
    missing = [c for c in ("prompt", "model", "model_response") if c not in frame.columns]
    if missing:
        raise DatasetError(f"{source}: missing column(s) {', '.join(missing)}; a single-model file has "
                           "prompt, model, model_response (and reward or score)")
    pair = list(models) if len(models) == 2 else sorted(frame.model.astype(str).unique())
    if len(pair) != 2:
        raise DatasetError(f"{source}: a single-model file with {len(pair)} models ({', '.join(pair[:6])}): "
                           "name the two to compare with models = [A, B] (--models A B)")
    key = "question_id" if "question_id" in frame.columns else "prompt"
    rows, unpaired = [], 0
    for question, group in frame.groupby(frame[key].astype(str), sort=False):
        by_model = {str(r["model"]): r for r in group.to_dict("records")}
        if not all(m in by_model for m in pair):
            unpaired += 1
            continue
        a, b = (by_model[m] for m in pair)
        score_a, score_b = _score(a), _score(b)
        if score_a is None or score_b is None:
            raise DatasetError(f"{source}: question {question}: no numeric reward or score for "
                               f"{pair[0] if score_a is None else pair[1]}; a single-model file needs one "
                               "to say which side won")
        rows.append({"question_id": question, "prompt": str(a["prompt"]), "model_a": pair[0], "model_b": pair[1],
                     "model_a_response": _response_text(a["model_response"]),
                     "model_b_response": _response_text(b["model_response"]),
                     "winner": "model_a" if score_a > score_b else "model_b" if score_b > score_a else "tie"})
    if not rows:
        raise DatasetError(f"{source}: no prompt is answered by both {pair[0]} and {pair[1]}")
    out = pd.DataFrame(rows)
    out.attrs["unpaired_prompts"] = unpaired
    return out


def _response_text(value) -> str:
    """A response: text, or an agent trace (a list of {role, content}) as one text."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return "\n\n".join(f"{m.get('role', '')}: {m.get('content', '')}" if isinstance(m, dict) else str(m)
                            for m in value)
    return "" if value is None else str(value)


def export_frame(properties: pd.DataFrame, battles: pd.DataFrame) -> pd.DataFrame:
    """`arena.clustered_properties` in StringSight's columns, each row with its battle."""
    battle = battles.rename(columns={"battle_id": "question_id", "response_a": "model_a_response",
                                     "response_b": "model_b_response"})[["question_id", *BATTLE]]
    out = properties.drop(columns=["winner"]).rename(columns={
        "battle_id": "question_id", "property_type": "type", "fine_label": "fine_cluster_label",
        "coarse_label": "coarse_cluster_label"})
    out["evidence"] = out.evidence.map(lambda e: json.loads(e) if isinstance(e, str) else [])
    out = out.merge(battle, on="question_id", how="left")
    columns = ["question_id", *BATTLE, "model", "property_id", "property_description", *FIELDS, *CLUSTERS]
    return out[columns].sort_values("property_id", key=lambda s: s.map(_property_order)).reset_index(drop=True)


def _property_order(property_id: str) -> tuple[str, int]:
    battle, ordinal = property_id.rsplit(":", 1)
    return battle, int(ordinal)
