"""The loaders of the files users bring, fuzzed: Chatbot Arena battles (the sample's columns, as
JSONL and CSV, and the conversation shape), dataset-difference rows, and the settings file. Each
either loads exactly the rows the rules keep (with the counts it reports), or refuses with one line
naming the file; it never raises anything else."""

import csv
import json
import math
import tomllib

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.arena.battles import load_battles
from assets.arena.config import BattlesConfig
from assets.diff.config import RowsConfig
from assets.diff.rows import build_rows
from resources.datasets import DatasetError, Datasets
from resources.settings import DEFAULT_SETTINGS_FILE, SettingsError, load_settings
from tests.fuzz import EXAMPLES, assert_one_line_naming, text_values

FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MODELS = ["gpt-4o", "claude-3-5-sonnet", "llama-3-70b"]
WINNERS = ["model_a", "model_b", "tie", "tie (bothbad)"]

# a text that is a JSON list is a list of turns (arena-hard-auto's shape), so none starts with "["
turn_text = text_values.filter(lambda t: not t.lstrip().startswith("["))
battle = st.fixed_dictionaries({
    "prompt": turn_text, "response_a": turn_text, "response_b": turn_text,
    "winner": st.sampled_from(WINNERS),
    "pair": st.permutations(MODELS).map(lambda m: m[:2]),
})
BATTLE_SPOILS = {  # (spoil, must the loader refuse)
    "winner unknown": (lambda r: r.update(winner="draw"), True),
    "winner null": (lambda r: r.update(winner=None), True),
    "model_a null": (lambda r: r.update(model_a=None), True),
    "model_b empty": (lambda r: r.update(model_b=""), True),
    "duplicate id": (lambda r: r.update(question_id="q0"), True),
    "prompt a number": (lambda r: r.update(prompt=12), False),
    "response null": (lambda r: r.update(response_a=None), False),
    "winner named": (lambda r: r.update(winner=r["model_a"]), False),
    "extra key": (lambda r: r.update(judge="x"), False),
}


@st.composite
def battle_files(draw):
    rows = []
    spoiled = {}
    for i, b in enumerate(draw(st.lists(battle, min_size=1, max_size=8))):
        row = {"question_id": f"q{i}", "model_a": b["pair"][0], "model_b": b["pair"][1],
               **{k: b[k] for k in ("prompt", "response_a", "response_b", "winner")}}
        name = draw(st.sampled_from([None, None, None, *BATTLE_SPOILS]))
        if name and not (name == "duplicate id" and i == 0):
            BATTLE_SPOILS[name][0](row)
            spoiled[i] = name
        rows.append(row)
    dropped = draw(st.sampled_from([None] * 8 + ["winner", "model_b", "response_a"]))
    if dropped:
        for row in rows:
            row.pop(dropped)
    return rows, spoiled, dropped, draw(st.sampled_from(["jsonl", "csv"]))


@FUZZ
@given(case=battle_files())
def test_battles_load_every_battle_or_refuse_in_one_line(tmp_path_factory, case):
    rows, spoiled, dropped, kind = case
    path = tmp_path_factory.mktemp("battles") / f"battles.{kind}"
    if kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pd.DataFrame(rows).to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)  # a lone \r quoted too
    must_refuse = bool(dropped) or any(BATTLE_SPOILS[n][1] for n in spoiled.values())
    try:
        frame = load_battles(BattlesConfig(dataset=str(path), num_samples=0, filter_english=False), Datasets())
    except DatasetError as exc:
        assert must_refuse, f"refused battles the rules accept: {exc}"
        assert_one_line_naming(str(exc), path)
        return
    assert not must_refuse, f"accepted spoiled battles {spoiled} (dropped column {dropped})"
    assert frame.battle_id.tolist() == [r["question_id"] for r in rows]
    expected = [{"tie (bothbad)": "tie"}.get(r["winner"], r["winner"]) if r["winner"] not in MODELS
                else ("model_a" if r["winner"] == r["model_a"] else "model_b") for r in rows]
    assert frame.winner.tolist() == expected
    for column in ("prompt", "response_a", "response_b"):  # text, as written (null and a blank CSV cell: empty)
        written = ["" if r[column] is None else str(r[column]) for r in rows]
        read = frame[column].tolist()
        assert [w.strip() for w in written] == [t.strip() for t in read] or kind == "csv", column
        assert all(isinstance(t, str) and t != "nan" for t in read), column


def conversation(prompt, answer):
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


CONVERSATION_SPOILS = {
    "not messages": (lambda r: r.update(conversation_a="hello"), True),
    "a number": (lambda r: r.update(conversation_b=5), True),
    "messages without content": (lambda r: r.update(conversation_a=[{"role": "user"}]), False),
    "content a list of parts": (lambda r: r["conversation_a"][1].update(content=[{"text": "a"}, "b"]), False),
}


@FUZZ
@given(rows=st.lists(battle, min_size=1, max_size=6),
       spoils=st.lists(st.sampled_from([None, None, *CONVERSATION_SPOILS]), min_size=6, max_size=6))
def test_arena_conversations_load_or_name_the_row(tmp_path_factory, rows, spoils):
    path = tmp_path_factory.mktemp("conversations") / "arena.jsonl"
    records, refuse_rows = [], []
    for i, (b, spoil) in enumerate(zip(rows, spoils)):
        record = {"question_id": f"q{i}", "model_a": b["pair"][0], "model_b": b["pair"][1], "winner": b["winner"],
                  "conversation_a": conversation(b["prompt"], b["response_a"]),
                  "conversation_b": conversation(b["prompt"], b["response_b"])}
        if spoil:
            CONVERSATION_SPOILS[spoil][0](record)
            if CONVERSATION_SPOILS[spoil][1]:
                refuse_rows.append(i + 1)
        records.append(record)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    try:
        frame = load_battles(BattlesConfig(dataset=str(path), num_samples=0, filter_english=False), Datasets())
    except DatasetError as exc:
        assert refuse_rows, f"refused conversations the rules accept: {exc}"
        assert_one_line_naming(str(exc), path)
        assert any(f"row {r}," in str(exc) for r in refuse_rows), (str(exc), refuse_rows)
        return
    assert not refuse_rows and len(frame) == len(rows)


@st.composite
def diff_sides(draw):
    def side():
        texts = draw(st.lists(st.one_of(text_values, st.none(), st.just("   ")), min_size=0, max_size=10))
        return texts

    return side(), side(), draw(st.sampled_from(["csv", "jsonl"]))


@FUZZ
@given(case=diff_sides())
def test_dataset_difference_rows_keep_every_text_and_count_the_empty(tmp_path_factory, case):
    a_texts, b_texts, kind = case
    folder = tmp_path_factory.mktemp("diff")
    paths = []
    for name, texts in (("a", a_texts), ("b", b_texts)):
        path = folder / f"{name}.{kind}"
        frame = pd.DataFrame({"text": pd.Series(texts, dtype=object)})
        frame.to_csv(path, index=False, quoting=csv.QUOTE_ALL) if kind == "csv" else path.write_text(
            "".join(json.dumps({"text": t}) + "\n" for t in texts))
        paths.append(path)
    config = RowsConfig(a=str(paths[0]), b=str(paths[1]), text_column="text", max_rows=0, test_fraction=0.2)

    def kept(texts):  # a blank CSV cell reads as missing
        return [t for t in texts if t is not None and str(t).strip() != ""]

    try:
        rows, report = build_rows(config, Datasets())
    except DatasetError as exc:
        a, b = kept(a_texts), kept(b_texts)
        assert not a or not b or min(len(a), len(b)) < 2 or (not a_texts or not b_texts), f"refused: {exc}"
        assert "\n" not in str(exc).strip() and (str(paths[0]) in str(exc) or str(paths[1]) in str(exc)
                                                or "rows per side" in str(exc)), str(exc)
        return
    a, b = kept(a_texts), kept(b_texts)
    assert report["rows_a"] == len(a) and report["rows_b"] == len(b)
    assert report["empty_texts_a"] == len(a_texts) - len(a) and report["empty_texts_b"] == len(b_texts) - len(b)
    n = min(len(a), len(b))
    assert (rows.side == "A").sum() == n == (rows.side == "B").sum()
    assert set(rows[rows.side == "A"].text) <= {str(t) for t in a}


SETTINGS_TEXT = DEFAULT_SETTINGS_FILE.read_text()
SETTINGS_LINES = SETTINGS_TEXT.splitlines()


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, len(SETTINGS_LINES) - 1),
                                st.sampled_from(["drop", "value", "garble", "duplicate", "key"]),
                                st.text(max_size=8)), min_size=1, max_size=4))
def test_a_settings_file_loads_or_is_refused_naming_the_file(tmp_path_factory, edits):
    lines = list(SETTINGS_LINES)
    for at, how, junk in edits:
        line = lines[at]
        if how == "drop":
            lines[at] = ""
        elif how == "value" and "=" in line:
            lines[at] = line.split("=")[0] + "= " + json.dumps(junk)
        elif how == "garble":
            lines[at] = line[: len(line) // 2] + junk
        elif how == "duplicate":
            lines.insert(at, line)
        elif how == "key" and "=" in line and not line.lstrip().startswith("#"):
            lines[at] = f"unknown_{abs(hash(junk)) % 100} = 1"
    path = tmp_path_factory.mktemp("settings") / "dagster_project.toml"
    path.write_text("\n".join(lines) + "\n")
    try:
        parsed = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError:
        parsed = None
    try:
        load_settings(path)
    except SettingsError as exc:
        assert_one_line_naming(str(exc), path)
        return
    assert parsed is not None, "a file TOML cannot parse was loaded"


@pytest.mark.parametrize("value", [math.nan, None, "", "  "])
def test_a_battle_whose_model_is_missing_is_refused_naming_the_row(tmp_path, value):
    """The fuzzer's find, kept: a battle without a model name (null, NaN, blank) used to load with
    model None, and its ratings and style rows went to no model."""
    path = tmp_path / "battles.jsonl"
    rows = [{"question_id": "q0", "model_a": "a", "model_b": "b", "prompt": "p", "response_a": "x",
             "response_b": "y", "winner": "model_a"},
            {"question_id": "q1", "model_a": value, "model_b": "b", "prompt": "p", "response_a": "x",
             "response_b": "y", "winner": "model_b"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DatasetError, match=r"battles.jsonl: row 2: model_a is missing"):
        load_battles(BattlesConfig(dataset=str(path), num_samples=0), Datasets())


def test_texts_that_look_like_numbers_or_missing_values_stay_as_written(tmp_path):
    """The fuzzer's finds, kept: pandas read a CSV text "0" as 0.0 and "NA" as missing, a JSONL
    response "00" as 0, and skipped a CSV line of spaces (a row lost, uncounted)."""
    texts = ["0", "00", "NA", "null", "1e5", "   "]
    for side in "ab":
        pd.DataFrame({"text": texts}).to_csv(tmp_path / f"{side}.csv", index=False)
    rows, report = build_rows(RowsConfig(a=str(tmp_path / "a.csv"), b=str(tmp_path / "b.csv"), text_column="text",
                                         max_rows=0, test_fraction=0.2), Datasets())
    assert sorted(rows[rows.side == "A"].text) == sorted(texts[:5]) and report["empty_texts_a"] == 1
    path = tmp_path / "battles.jsonl"
    path.write_text(json.dumps({"question_id": "q0", "model_a": "a", "model_b": "b", "prompt": "1e5",
                                "response_a": "00", "response_b": "NA", "winner": "tie"}) + "\n")
    frame = load_battles(BattlesConfig(dataset=str(path), num_samples=0), Datasets())
    assert frame[["prompt", "response_a", "response_b"]].values.tolist() == [["1e5", "00", "NA"]]
