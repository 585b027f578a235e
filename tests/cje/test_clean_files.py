"""cje-eval's files read whole by DuckDB (assets/cje/clean_files.py) give exactly the tables the
row-by-row rules give; a file with any row those rules refuse or treat specially is left to them."""

import json
import shutil
from pathlib import Path

import pytest

from assets.cje.config import LoggedDataConfig
from assets.cje.logged_data import build_tables, from_clean_files, from_files
from tests.cje.conftest import SAMPLE, sample_rows, write_logged


def both_ways(folder: Path, **config) -> tuple[dict, dict]:
    cfg = LoggedDataConfig(logged_data=str(folder / "logged_data.jsonl"), fresh_draws_dir=str(folder / "fresh_draws"),
                           probe_dir=str(folder / "probe_slice"), **config)
    return from_clean_files(cfg), build_tables(from_files(cfg), cfg)


def assert_same(fast: dict, slow: dict) -> None:
    assert fast is not None, "clean files should be read by DuckDB"
    assert fast.keys() == slow.keys()
    for name in slow:
        assert fast[name].schema == slow[name].schema, name
        assert fast[name].to_pylist() == slow[name].to_pylist(), name


def copy_sample(tmp_path: Path) -> Path:
    folder = tmp_path / "sample"
    shutil.copytree(SAMPLE, folder)
    return folder


def test_a_logged_file_alone_reads_the_same_both_ways(tmp_path):
    folder = copy_sample(tmp_path)
    shutil.rmtree(folder / "fresh_draws"), shutil.rmtree(folder / "probe_slice")
    (folder / "fresh_draws").mkdir(), (folder / "probe_slice").mkdir()
    assert_same(*both_ways(folder))


def test_the_bundled_sample_reads_the_same_both_ways(tmp_path):
    fast, slow = both_ways(copy_sample(tmp_path), oracle_fraction=0.25, seed=7)
    assert_same(fast, slow)
    assert fast["responses"].num_rows > 1000 and "calibration" in fast["oracle_labels"]["split"].to_pylist()


def test_unusual_but_legal_values_read_the_same_both_ways(tmp_path):
    """NaN and -Infinity log-probabilities, a target missing on a row, token log-probabilities, a
    top-level prompt_id, unlabelled rows, several draws per prompt, probe rows without judge scores."""
    folder = copy_sample(tmp_path)
    rows = sample_rows(300)
    rows[0]["target_policy_logprobs"]["clone"] = float("nan")
    rows[1]["target_policy_logprobs"]["unhelpful"] = float("-inf")
    del rows[2]["target_policy_logprobs"]["parallel_universe_prompt"]
    rows[3]["metadata"]["token_logprobs"] = [-0.5, -1.25, float("-inf")]
    rows[4]["prompt_id"] = rows[4]["metadata"].pop("prompt_id")
    rows[5].pop("oracle_label", None)
    rows[6]["oracle_label"] = None
    rows[7]["extra"] = {"ignored": [1, 2]}
    rows[8]["base_policy_logprob"] = None  # kept, flagged later
    rows[9]["metadata"]["token_logprobs"] = []
    write_logged(folder / "logged_data.jsonl", rows)
    draws = folder / "fresh_draws" / "clone_responses.jsonl"
    lines = draws.read_text().splitlines()
    again = [dict(json.loads(line), draw_idx=1, metadata={"token_logprobs": [-0.1]}) for line in lines[:50]]
    again[0].update(draw_idx=None, prompt=None, response=None)  # null is absent: draw 0, empty texts
    draws.write_text("\n".join(lines) + "\n\n" + "".join(json.dumps(r) + "\n" for r in again))
    probe = next((folder / "probe_slice").glob("*_probe.jsonl"))
    probe_rows = [json.loads(line) for line in probe.read_text().splitlines()]
    for r in probe_rows[:5]:
        r.pop("judge_score", None)
    probe_rows[5]["oracle_label"] = None  # a probe row without a label: there, but no label
    write_logged(probe, probe_rows)
    fast, slow = both_ways(folder, oracle_fraction=0.5)
    assert_same(fast, slow)


@pytest.mark.parametrize("change", [
    lambda rows: rows[9].update(judge_score="0.5"),              # text, not a number
    lambda rows: rows[9].update(judge_score=True),               # a boolean
    lambda rows: rows[9].update(judge_score=None),               # every row needs a judge score
    lambda rows: rows[9].pop("base_policy_logprob"),             # a required field missing (null is legal)
    lambda rows: rows[9].pop("response"),                        # a required field missing
    lambda rows: rows[9].update(oracle_label=1.5),               # outside [0, 1]
    lambda rows: rows[9]["metadata"].update(prompt_id=rows[3]["metadata"]["prompt_id"]),  # a duplicate
    lambda rows: rows[9]["metadata"].update(token_logprobs=[-1.0, None]),
    lambda rows: rows[9]["target_policy_logprobs"].update(clone="x"),
    lambda rows: rows[9].update(prompt="x" * 1_000_001),         # over the text limit
], ids=["text judge", "bool judge", "null judge", "no base", "no response", "label 1.5", "duplicate id",
        "null token", "text logprob", "long text"])
def test_a_row_the_rules_treat_specially_goes_row_by_row(tmp_path, change):
    folder = copy_sample(tmp_path)
    rows = sample_rows(100)
    cfg = LoggedDataConfig(logged_data=str(folder / "logged_data.jsonl"), fresh_draws_dir="", probe_dir="")
    write_logged(folder / "logged_data.jsonl", rows)
    assert from_clean_files(cfg) is not None  # the rows as they were: read by DuckDB
    change(rows)
    write_logged(folder / "logged_data.jsonl", rows)
    assert from_clean_files(cfg) is None


@pytest.mark.parametrize("line", ['{"prompt_id": "a", "judge_score": 0.5, "draw_idx": false}',
                                  '{"prompt_id": "a", "judge_score": 0.5, "draw_idx": 1.0}',
                                  '{"prompt_id": 7, "judge_score": 0.5}',
                                  '{"prompt_id": "a", "judge_score": 0.5, "prompt": 3}',
                                  '{"prompt_id": "a"}',
                                  '[1, 2]', '{not json', '{"prompt_id": "a", "prompt_id": "b", "judge_score": 1}'])
def test_a_draw_line_the_rules_treat_specially_goes_row_by_row(tmp_path, line):
    folder = copy_sample(tmp_path)
    draws = folder / "fresh_draws" / "clone_responses.jsonl"
    cfg = LoggedDataConfig(logged_data=str(folder / "logged_data.jsonl"), fresh_draws_dir=str(folder / "fresh_draws"),
                           probe_dir="")
    assert from_clean_files(cfg) is not None
    draws.write_text(draws.read_text() + line + "\n")
    assert from_clean_files(cfg) is None


def test_a_probe_row_without_its_label_key_goes_row_by_row(tmp_path):
    """A probe's oracle_label may be null, not absent: DuckDB reads both as NULL, so the lines are
    read again for the key."""
    folder = copy_sample(tmp_path)
    probe = next((folder / "probe_slice").glob("*_probe.jsonl"))
    rows = [json.loads(line) for line in probe.read_text().splitlines()]
    cfg = LoggedDataConfig(logged_data=str(folder / "logged_data.jsonl"), fresh_draws_dir="",
                           probe_dir=str(folder / "probe_slice"))
    rows[3]["oracle_label"] = None
    write_logged(probe, rows)
    assert from_clean_files(cfg) is not None  # null: read by DuckDB
    rows[3].pop("oracle_label")
    write_logged(probe, rows)
    assert from_clean_files(cfg) is None
