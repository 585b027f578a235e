"""`arena.battles`: one row per battle (prompt, both models' responses, the human winner).

Sources: `arena` (bundled LMSYS sample, or hf:lmarena-ai/arena-human-preference-100k), `webdev`
(hf:lmarena-ai/webdev-arena-preference-10k; code, commentary and logs flattened into text),
`coding` (arena battles whose prompt is about programming), `fictional` (planted behaviours, see
fictional.py), or a local file with the bundled sample's columns, Arena's `conversation_a/b`, or
StringSight's side-by-side columns (`question_id, model_a_response, model_b_response`; a properties
file that carries its battles, as `arena/exports` writes one, gives one battle per question_id), or a
pairwise judge's Inspect AI log (resources/inspect_logs.py). Multi-turn battles keep every
turn; `prompt`, `response_a` and `response_b` join the turns for the describer.
"""

import json
import math
import re
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from assets.arena import fictional
from assets.arena.config import DATASETS, BattlesConfig
from assets.arena.properties_file import battle_columns, single_model_battles
from assets.core.tables import Written, one, table_step
from assets.lineage import INPUT
from resources.datasets import READERS, DatasetError, Datasets, looks_english, named_input, parse_messages
from resources.warehouse import Warehouse

WINNERS = {"model_a", "model_b", "tie", "tie (bothbad)"}
CODE = re.compile(r"\b(python|javascript|typescript|java|c\+\+|rust|golang|sql|code|function|"
                  r"script|bug|compile|regex|api|html|css|algorithm|program)\b", re.IGNORECASE)
SAMPLE_COLUMNS = ["model_a", "model_b", "prompt", "response_a", "response_b"]


def flatten(content) -> str:
    """Text of a message's content, whatever its shape (webdev's code/commentary/logs parts too)."""
    if content is None or (isinstance(content, float) and math.isnan(content)):  # null, or a blank CSV cell
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return "\n".join(flatten(v) for v in content.values() if v)
    if isinstance(content, (list, tuple, np.ndarray)):
        return "\n".join(flatten(v) for v in content)
    return str(content)


def _turns(cell) -> list[str]:
    if isinstance(cell, str) and cell.startswith("["):
        try:
            return [flatten(t) for t in json.loads(cell)]
        except json.JSONDecodeError:
            pass
    return [flatten(cell)]


def _battle_ids(frame: pd.DataFrame) -> pd.Series:
    for column in ("question_id", "id"):
        if column in frame:
            return frame[column].astype(str).reset_index(drop=True)
    return pd.Series(range(len(frame))).astype(str)


def _from_conversations(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """HF arena exports: conversation_a/b are lists of {role, content}."""
    def split(column, role):
        return [[flatten(m.get("content")) for m in parse_messages(conv, f"{source}: row {i + 1}, column {column}")
                 if m.get("role") == role] for i, conv in enumerate(frame[column])]

    return pd.DataFrame({
        "battle_id": _battle_ids(frame),
        "model_a": frame.model_a, "model_b": frame.model_b,
        "prompt_turns": split("conversation_a", "user"),
        "response_a_turns": split("conversation_a", "assistant"),
        "response_b_turns": split("conversation_b", "assistant"),
        "winner": frame.winner.astype(str).to_numpy()})


def _from_sample_columns(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    missing = [c for c in SAMPLE_COLUMNS if c not in frame.columns]
    if not {"winner"} <= set(frame.columns) and not {"winner_model_a", "winner_model_b", "winner_tie"} <= set(frame.columns):
        missing.append("winner (or winner_model_a, winner_model_b, winner_tie)")
    if missing:
        raise DatasetError(f"{source}: missing column(s) {', '.join(missing)}")
    if "winner" in frame:
        winner = frame.winner.astype(str)
    else:
        winner = np.select([frame.winner_model_a == 1, frame.winner_model_b == 1, frame.winner_tie == 1],
                           ["model_a", "model_b", "tie"], default="unknown")
    return pd.DataFrame({
        "battle_id": _battle_ids(frame).to_numpy(),
        "model_a": frame.model_a, "model_b": frame.model_b,
        "prompt_turns": frame.prompt.map(_turns), "response_a_turns": frame.response_a.map(_turns),
        "response_b_turns": frame.response_b.map(_turns), "winner": winner})


def _winner_sides(frame: pd.DataFrame) -> pd.Series:
    """The winner as a side: StringSight names the winning model instead (`winner:
    claude-3-5-sonnet-20240620`); a name that is neither side's is left for the check to name."""
    winner = frame.winner.astype(str)
    return winner.mask(winner.eq(frame.model_a) & winner.ne(frame.model_b), "model_a") \
                 .mask(winner.eq(frame.model_b) & winner.ne(frame.model_a), "model_b")


def check_models_and_ids(frame: pd.DataFrame, source: str) -> None:
    """Every battle names both models, and no two battles share an id (row numbers 1-based)."""
    for side in ("model_a", "model_b"):
        names = frame[side]
        missing = names.isna() | names.astype(str).str.strip().eq("")
        if missing.any():
            raise DatasetError(f"{source}: row {int(missing.to_numpy().argmax()) + 1}: {side} is missing (null or "
                               f"blank) in {int(missing.sum())} row(s); every battle needs both models' names")
    repeated = frame.battle_id.duplicated()
    if repeated.any():
        at = int(repeated.to_numpy().argmax())
        first = int(frame.battle_id.eq(frame.battle_id.iloc[at]).to_numpy().argmax())
        raise DatasetError(f"{source}: row {at + 1}: battle id {frame.battle_id.iloc[at]!r} repeats row {first + 1} "
                           f"({int(repeated.sum())} repeated id(s)); each battle needs its own question_id or id")


def load_battles(config: BattlesConfig, datasets: Datasets) -> pd.DataFrame:
    named_input(config.dataset, "arena__battles.dataset", "vibescope arena BATTLES")
    if config.dataset == "fictional":
        prompts = datasets.load("sample:arena").prompt.map(lambda c: _turns(c)[0])
        prompts = [p for p in prompts if looks_english(p) and 10 < len(p) < 300][:80]
        frame = fictional.battles(prompts, config.num_samples or fictional.DEFAULT_BATTLES, config.seed)
    else:
        source = {"webdev": "hf:lmarena-ai/webdev-arena-preference-10k"}.get(config.dataset, config.source)
        if config.dataset not in DATASETS:
            if Path(config.dataset).suffix not in READERS:  # a typo, not a file
                raise DatasetError(f"dataset {config.dataset!r} is unknown: use one of {', '.join(DATASETS)}, "
                                   f"or a path to a {', '.join(READERS)} file with the sample's columns")
            source = config.dataset  # a local file
        raw = datasets.load(source, split="test" if config.dataset == "webdev" else "train")
        if "model_response" in raw and "model_a" not in raw:  # StringSight's single-model files
            raw = single_model_battles(raw, source, config.models)
        if "model_a_response" in raw:  # StringSight / LMM-Vibes side-by-side columns
            raw = battle_columns(raw)
        frame = (_from_sample_columns(raw, source) if "response_a" in raw or "conversation_a" not in raw
                 else _from_conversations(raw, source))
        check_models_and_ids(frame, source)
        frame["winner"] = _winner_sides(frame)
        unknown = frame.loc[~frame.winner.isin(WINNERS), "winner"].value_counts(dropna=False)
        if len(unknown):
            raise DatasetError(f"{source}: unknown winner value(s) "
                               + ", ".join(f"{v!r} ({n} rows)" for v, n in unknown.items())
                               + f"; expected one of {', '.join(sorted(WINNERS))}, or a battle's model name")
        frame["winner"] = frame.winner.replace({"tie (bothbad)": "tie"})
        frame["planted_properties"] = None
    frame["prompt"] = frame.prompt_turns.map(lambda t: "\n\n".join(t))
    frame["response_a"] = frame.response_a_turns.map(lambda t: "\n\n".join(t))
    frame["response_b"] = frame.response_b_turns.map(lambda t: "\n\n".join(t))
    frame["n_turns"] = frame.prompt_turns.map(len)
    frame["empty_response"] = frame.response_a.str.strip().eq("") | frame.response_b.str.strip().eq("")
    if config.dataset == "coding":
        frame = frame[frame.prompt.str.contains(CODE)]
    if config.filter_english:
        frame = frame[frame.prompt.map(looks_english)]
    if config.exclude_ties:
        frame = frame[frame.winner != "tie"]
    if config.models:
        frame = frame[frame.model_a.isin(config.models) & frame.model_b.isin(config.models)]
    if frame.empty:
        raise DatasetError(f"dataset {config.dataset!r}: no battles left after filtering")
    if config.num_samples and len(frame) > config.num_samples:
        frame = frame.sample(n=config.num_samples, random_state=config.seed).sort_index()
    return frame.reset_index(drop=True)


@table_step(layer=INPUT)
def battles(context: dg.AssetExecutionContext, config: BattlesConfig, datasets: Datasets,
            warehouse: Warehouse) -> Written:
    """Battles with the human winner; see the module docstring for the sources."""
    frame = load_battles(config, datasets).assign(dataset=config.dataset)
    return one(frame, {"models": int(pd.concat([frame.model_a, frame.model_b]).nunique()),
                       "ties": int((frame.winner == "tie").sum()), "empty_responses": int(frame.empty_response.sum()),
                       "multi_turn": int((frame.n_turns > 1).sum())})
