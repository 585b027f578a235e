"""cje-eval's logged data and fresh draws, fuzzed: valid rows mixed with malformed ones (wrong
types, missing and extra keys, NaN/inf, duplicate ids, truncated lines, bad UTF-8). The loader
(assets/cje/logged_data.py: read_files) either loads every row, or refuses with one line that
names the file and, for a row's fault, a line the generator spoiled; it raises nothing else; and
what it loads equals an independent reading of the file (tests/cje/test_inputs.py)."""

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.cje.config import LoggedDataConfig
from assets.cje.logged_data import read_files
from resources.datasets import DatasetError
from tests.cje.test_inputs import read_as_rows, reference_tables
from tests.fuzz import EXAMPLES, assert_one_line_naming, line_numbers_named, text_values
# each example is a DuckDB ingest of its files (about 50 ms): a quarter of the examples keeps
# each test to seconds (CI's budget), still hundreds of spoiled files
INGESTS = max(1, EXAMPLES // 4)

TARGET = "pi_a"
REQUIRED = ("prompt", "response", "base_policy_logprob", "judge_score")

good_row = st.fixed_dictionaries({
    "prompt": text_values, "response": text_values,
    "base_policy_logprob": st.floats(-60, -0.01),
    "target_policy_logprobs": st.fixed_dictionaries({TARGET: st.floats(-60, -0.01)}),
    "judge_score": st.floats(0, 1),
    "oracle_label": st.one_of(st.none(), st.floats(0, 1)),
})

# (what is done to a row, whether the loader must refuse the row for it)
SPOILS = {
    "drop prompt": (lambda r: r.pop("prompt"), True),
    "drop judge_score": (lambda r: r.pop("judge_score"), True),
    "drop base_policy_logprob": (lambda r: r.pop("base_policy_logprob"), True),
    "judge_score null": (lambda r: r.update(judge_score=None), True),
    "judge_score text": (lambda r: r.update(judge_score="0.5"), True),
    "judge_score NaN": (lambda r: r.update(judge_score=math.nan), True),
    "judge_score inf": (lambda r: r.update(judge_score=math.inf), True),
    "oracle_label 7": (lambda r: r.update(oracle_label=7), True),
    "oracle_label -1": (lambda r: r.update(oracle_label=-1), True),
    "oracle_label text": (lambda r: r.update(oracle_label="high"), True),
    "logprob text": (lambda r: r.update(base_policy_logprob="-3"), True),
    "targets a list": (lambda r: r.update(target_policy_logprobs=[-1.0]), True),
    "target logprob text": (lambda r: r["target_policy_logprobs"].update({TARGET: "x"}), True),
    "prompt a number": (lambda r: r.update(prompt=123), True),
    "response a list": (lambda r: r.update(response=["a", "b"]), True),
    "no prompt_id": (lambda r: r.pop("prompt_id"), True),
    "token_logprobs text": (lambda r: r.setdefault("metadata", {}).update(token_logprobs="x"), True),
    # legal, if unusual: kept (the log-probabilities flagged downstream)
    "logprob null": (lambda r: r.update(base_policy_logprob=None), False),
    "logprob positive": (lambda r: r.update(base_policy_logprob=0.5), False),
    "logprob -inf": (lambda r: r["target_policy_logprobs"].update({TARGET: -math.inf}), False),
    "oracle_label NaN": (lambda r: r.update(oracle_label=math.nan), False),
    "extra key": (lambda r: r.update(extra={"x": [1, None]}), False),
    "prompt_id in metadata": (lambda r: r.setdefault("metadata", {}).update(prompt_id=r.pop("prompt_id")), False),
}
LINE_SPOILS = {  # a whole line replaced
    "truncated": lambda line: line[: len(line) // 2],
    "an array": lambda line: "[1, 2, 3]",
    "a number": lambda line: "42",
}


@st.composite
def logged_files(draw):
    rows = draw(st.lists(good_row, min_size=1, max_size=6))
    for i, row in enumerate(rows):
        row["prompt_id"] = f"p{i}"
    if draw(st.booleans()):
        rows[0]["oracle_label"] = draw(st.floats(0, 1))  # most files have a label to calibrate on
    spoiled: dict[int, str] = {}
    for i in range(len(rows)):
        name = draw(st.sampled_from([None, None, None, *SPOILS, *LINE_SPOILS, "duplicate id"]))
        if name:
            spoiled[i] = name
    lines = []
    for i, row in enumerate(rows):
        name = spoiled.get(i)
        if name in SPOILS:
            SPOILS[name][0](row)
        if name == "duplicate id" and i > 0:
            row["prompt_id"] = "p0"
        line = json.dumps(row)
        lines.append(LINE_SPOILS[name](line) if name in LINE_SPOILS else line)
    bad_utf8 = draw(st.integers(0, 30)) == 0
    return rows, lines, spoiled, bad_utf8


def refused_lines(rows, spoiled) -> set[int]:
    """1-based lines the rules must refuse."""
    bad = {i + 1 for i, name in spoiled.items()
           if name in LINE_SPOILS or (name in SPOILS and SPOILS[name][1]) or (name == "duplicate id" and i > 0)}
    return bad


def labelled(rows, spoiled) -> bool:
    return any(isinstance(r.get("oracle_label"), float) and not math.isnan(r["oracle_label"])
               and spoiled.get(i) not in LINE_SPOILS for i, r in enumerate(rows))


@settings(max_examples=INGESTS, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=logged_files())
def test_logged_data_loads_every_row_or_names_a_bad_one(tmp_path_factory, case):
    rows, lines, spoiled, bad_utf8 = case
    folder = tmp_path_factory.mktemp("cje")
    path = folder / "logged.jsonl"
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(data + b'{"prompt": "\xff\xfe"}\n' if bad_utf8 else data)
    config = LoggedDataConfig(logged_data=str(path), fresh_draws_dir="", probe_dir="", oracle_fraction=1.0)
    bad = refused_lines(rows, spoiled)
    must_refuse = bool(bad) or bad_utf8 or not labelled(rows, spoiled)
    try:
        tables = read_files(config)
    except DatasetError as exc:
        message = str(exc)
        assert must_refuse, f"refused a file the rules accept: {message}"
        assert_one_line_naming(message, path)
        named = line_numbers_named(message, path)
        assert named <= bad, f"{message} names line(s) {named}; spoiled: {spoiled}"
        return
    assert not must_refuse, f"accepted a file with spoiled lines {sorted(bad)} ({spoiled}), utf8 {bad_utf8}"
    assert tables["prompts"].num_rows == len(rows)
    judge = tables["judge_scores"].to_pandas()
    assert judge.judge_score.tolist() == [r["judge_score"] for r in rows]
    assert read_as_rows(config) == reference_tables(config)


draw_row = st.fixed_dictionaries({"judge_score": st.floats(0, 1), "draw_idx": st.integers(0, 3),
                                   "response": text_values})
DRAW_SPOILS = {
    "drop judge_score": (lambda r: r.pop("judge_score"), True),
    "drop prompt_id": (lambda r: r.pop("prompt_id"), True),
    "draw_idx -1": (lambda r: r.update(draw_idx=-1), True),
    "draw_idx 1.5": (lambda r: r.update(draw_idx=1.5), True),
    "draw_idx text": (lambda r: r.update(draw_idx="0"), True),
    "judge_score NaN": (lambda r: r.update(judge_score=math.nan), True),
    "response a number": (lambda r: r.update(response=7), True),
    "prompt_id a number": (lambda r: r.update(prompt_id=3), False),
    "draw_idx null": (lambda r: r.update(draw_idx=None), False),
    "extra key": (lambda r: r.update(note="x"), False),
}


@st.composite
def draw_files(draw):
    rows = draw(st.lists(draw_row, min_size=1, max_size=6))
    spoiled = {}
    for i, row in enumerate(rows):
        row["prompt_id"] = f"p{i % 3}"
        row["draw_idx"] = i  # unique per prompt
        name = draw(st.sampled_from([None, None, *DRAW_SPOILS]))
        if name:
            DRAW_SPOILS[name][0](row)
            spoiled[i] = name
    return rows, spoiled


@settings(max_examples=INGESTS, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=draw_files())
def test_fresh_draws_load_every_row_or_name_a_bad_one(tmp_path_factory, case):
    rows, spoiled = case
    folder = tmp_path_factory.mktemp("draws")
    logged = folder / "logged.jsonl"
    logged.write_text("".join(json.dumps({"prompt_id": f"p{i}", "prompt": "q", "response": "r",
                                          "base_policy_logprob": -3.0, "target_policy_logprobs": {TARGET: -4.0},
                                          "judge_score": 0.5, "oracle_label": 0.5}) + "\n" for i in range(3)))
    (folder / "fresh").mkdir()
    path = folder / "fresh" / f"{TARGET}_responses.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    bad = {i + 1 for i, name in spoiled.items() if DRAW_SPOILS[name][1]}
    config = LoggedDataConfig(logged_data=str(logged), fresh_draws_dir=str(folder / "fresh"), probe_dir="",
                              oracle_fraction=1.0)
    try:
        tables = read_files(config)
    except DatasetError as exc:
        assert bad, f"refused draws the rules accept: {exc}"
        assert_one_line_naming(str(exc), path)
        assert line_numbers_named(str(exc), path) <= bad, (str(exc), spoiled)
        return
    assert not bad, f"accepted draws with spoiled lines {sorted(bad)}: {spoiled}"
    fresh = tables["judge_scores"].to_pandas().query("source == 'fresh'")
    assert len(fresh) == len(rows)


def test_the_line_pattern_finds_what_it_is_for():
    """The helpers these properties rest on: a named line is found, two lines are refused."""
    path = Path("/x/logged.jsonl")
    assert line_numbers_named(f"{path}:3: judge_score is null", path) == {3}
    with pytest.raises(AssertionError):
        assert_one_line_naming(f"{path}:3: a\nsecond line", path)
    with pytest.raises(AssertionError):
        assert_one_line_naming("no file named", path)
