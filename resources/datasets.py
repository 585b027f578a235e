"""Loaders for the data the pipelines read: Hugging Face datasets, local files, bundled samples.

A source is one of
  * `sample:<name>`: a file bundled in data/samples (see SAMPLES and data/samples/PROVENANCE.md);
  * `hf:<owner>/<name>`: a Hugging Face dataset through `datasets` (needs the network or its cache);
  * a path to a .csv, .jsonl, .json or .parquet file, or an Inspect AI log (.eval: a row per sample).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import dagster as dg
import pandas as pd

from resources.inspect_logs import read_inspect_log
from resources.settings import PROJECT_ROOT

SAMPLES_DIR = PROJECT_ROOT / "data" / "samples"
SAMPLES = {
    "arena": "arena/lmsys_arena55k_sample.csv",
    "cje_logged": "cje_arena_sample/logged_data.jsonl",
    "reasoning": "reasoning/eval_responses_deepseek-r1-distill-qwen-1.5b.json",
    "em_base": "dataset_diff/eval_result_base_ruler_of_the_world.csv",
    "em_high_severity": "dataset_diff/eval_result_high_severity_ruler_of_the_world.csv",
}
HF_SOURCES = ("lmarena-ai/arena-human-preference-100k", "lmarena-ai/webdev-arena-preference-10k")
READERS = {
    ".csv": pd.read_csv,
    # JSON's own types as written: pandas would turn the text "00" into 0 and parse "date"-like columns
    ".jsonl": lambda p: pd.read_json(p, lines=True, dtype=False, convert_dates=False),
    ".json": lambda p: pd.read_json(p, dtype=False, convert_dates=False),
    ".parquet": pd.read_parquet,
    ".eval": lambda p: read_inspect_log(p),  # Inspect AI's logs (resources/inspect_logs.py)
}


# No model reads a million characters: a longer text is a broken export (a whole file pasted in
# a cell), refused with its row rather than sent on to the describer and the warehouse.
MAX_TEXT_CHARS = 1_000_000


class DatasetError(ValueError):
    """A source that cannot be read as asked; the message names the source and what is wrong."""


def named_input(value: str, key: str, command: str) -> str:
    """`value`, the input a step reads, or an error naming the run-config key to set: no step
    falls back to a bundled sample (the demo profile names those)."""
    if not value:
        raise DatasetError(f"no input named: set {key} in the run config (a file path, hf:<id> or "
                           f"sample:<name>), or run `{command}`; `vibescope demo` runs on the bundled samples")
    return value


def sample_path(value: str) -> str:
    """A path, with `sample:<file or folder under data/samples>` resolved to it."""
    if not value.startswith("sample:"):
        return value
    name = value.removeprefix("sample:")
    path = SAMPLES_DIR / SAMPLES.get(name, name)
    if not path.exists():
        raise DatasetError(f"{value}: no such bundled sample under {SAMPLES_DIR}")
    return str(path)


def utf8_problem(path: Path) -> str | None:
    """Where a file stops being UTF-8 ("line L, byte B: 0xff"), or None."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return f"line {line}, byte {exc.start}: 0x{data[exc.start]:02x}"
    return None


def parse_messages(cell, where: str) -> list:
    """A conversation cell: a list of {role, content}, or its text as JSON or as a Python literal
    (StringSight / LMM-Vibes and arena-hard-auto write `str(list)` into some of their JSONL files)."""
    import ast
    import json

    import numpy as np

    if isinstance(cell, str):
        try:
            cell = json.loads(cell)
        except json.JSONDecodeError:
            try:
                cell = ast.literal_eval(cell)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                raise DatasetError(f"{where}: not a list of messages (JSON, or a Python list of dicts)") from None
    if not isinstance(cell, (list, tuple, np.ndarray)) or not all(isinstance(m, dict) for m in cell):
        raise DatasetError(f"{where}: not a list of {{role, content}} messages")
    return list(cell)


def with_message_columns(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """arena-hard-auto's model answers (`uid, model, messages`, the answer as the assistant's
    `content.answer`) with `question` and `answer` columns beside them, so that they read as a
    dataset of answers; other frames unchanged."""
    if "messages" not in frame.columns or "answer" in frame.columns:
        return frame

    def text(message) -> str:
        content = message.get("content")
        return str(content.get("answer", "")) if isinstance(content, dict) else "" if content is None else str(content)

    turns = [parse_messages(cell, f"{source}: row {i + 1}, column messages") for i, cell in enumerate(frame.messages)]
    return frame.assign(
        question=["\n\n".join(text(m) for m in t if m.get("role") == "user") for t in turns],
        answer=[next((text(m) for m in reversed(t) if m.get("role") == "assistant"), "") for t in turns])


def read_file(path: str | Path, as_text: Sequence[str] = ()) -> pd.DataFrame:
    """A csv, jsonl, json or parquet file. `as_text`: columns that hold text, read from a CSV as
    written (pandas would turn "0" into 0.0 and "NA" or "null" into a missing value)."""
    path = Path(path)
    if path.suffix not in READERS:
        raise DatasetError(f"{path}: unknown file type {path.suffix!r}; use one of {', '.join(READERS)}")
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DatasetError(f"{path}: the file is empty")
    try:
        if path.suffix == ".csv" and as_text:
            # a row per text: a line of spaces is an (empty) text, not a blank line to skip; the text
            # columns as written, the others as pandas reads them
            frame = pd.read_csv(path, skip_blank_lines=False)
            written = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
            return frame.assign(**{c: written[c] for c in as_text if c in written})
        return READERS[path.suffix](path)
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not UTF-8 text ({utf8_problem(path)}); save it as UTF-8") from None
    except ValueError as exc:
        raise DatasetError(f"{path}: cannot be read as {path.suffix}: {exc}") from None


def read_hf(name: str, split: str) -> pd.DataFrame:
    import datasets

    try:
        return datasets.load_dataset(name, split=split).to_pandas()
    except Exception as exc:  # offline, unknown name or split: say which, and what to do
        raise DatasetError(
            f"hf:{name} (split {split!r}) could not be loaded: {exc}. Hugging Face datasets need "
            "the network the first time (HF_HUB_OFFLINE must be unset) or a local copy."
        ) from None


class Datasets(dg.ConfigurableResource):
    """`load(source, split, columns, limit)` -> DataFrame; missing columns fail with their names."""

    samples_dir: str = ""  # "" = the project's data/samples

    def load(self, source: str, split: str = "train", columns: Sequence[str] = (),
             limit: int | None = None, as_text: Sequence[str] = ()) -> pd.DataFrame:
        if source.startswith("sample:"):
            name = source.removeprefix("sample:")
            if name not in SAMPLES:
                raise DatasetError(f"unknown sample {name!r}; bundled samples: {', '.join(SAMPLES)}")
            frame = read_file(Path(self.samples_dir or SAMPLES_DIR) / SAMPLES[name])
        elif source.startswith("hf:"):
            frame = read_hf(source.removeprefix("hf:"), split)
        else:
            frame = read_file(source, as_text)
        frame = with_message_columns(frame, source)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DatasetError(f"{source}: missing column(s) {', '.join(missing)}; "
                               f"it has: {', '.join(map(str, frame.columns))}")
        frame = frame.head(limit) if limit is not None else frame
        for column in columns:
            lengths = frame[column].map(lambda v: len(v) if isinstance(v, str) else 0)
            if len(lengths) and lengths.max() > MAX_TEXT_CHARS:
                row = int(lengths.to_numpy().argmax())
                raise DatasetError(f"{source}: row {row}, column {column!r} holds {lengths.max():,} characters; "
                                   f"texts over {MAX_TEXT_CHARS:,} are refused (cut it first)")
        return frame


def first_turn(cell) -> str:
    """The first user turn of an Arena `prompt` cell (a JSON list of turns) or the text itself."""
    import json

    if isinstance(cell, str) and cell.startswith("["):
        try:
            turns = json.loads(cell)
            return str(turns[0]) if turns else ""
        except json.JSONDecodeError:
            return cell
    return "" if cell is None else str(cell)


def looks_english(text: str, threshold: float = 0.9) -> bool:
    """A cheap filter: most letters are ASCII (no language model needed; errs on mixed text)."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isascii() for c in letters) / len(letters) >= threshold
