"""cje-eval's files into the cje.* input tables (assets/cje/inputs.py, input_rules.sql): the tables
equal an independent reading of the same files (Python's json, written here from cje-eval's record
format), and each field rule refuses its bad row with one line naming the file and line."""

import json
import math
import shutil
from pathlib import Path

import pytest

from assets.cje.config import LoggedDataConfig
from assets.cje.logged_data import read_files
from resources.datasets import DatasetError
from tests.cje.conftest import SAMPLE, sample_rows, write_logged


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().decode().split("\n") if line.strip()]


def _number(value):
    """As the tables hold it: null and NaN are missing; NaN inside a list is kept, as a string here
    so that lists compare (NaN is not equal to itself)."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _tokens(record: dict):
    values = (record.get("metadata") or {}).get("token_logprobs")
    return None if values is None else ["nan" if v is None or math.isnan(v) else float(v) for v in values]


def reference_tables(config: LoggedDataConfig) -> dict[str, list]:
    """The input tables as lists of rows (oracle_labels without its split), from json alone."""
    logged = _records(Path(config.logged_data))
    draws = []  # (policy, source, records), fresh draws then probes, each folder in name order
    for source, folder, suffix in (("fresh", config.fresh_draws_dir, "_responses.jsonl"),
                                   ("probe", config.probe_dir, "_probe.jsonl")):
        for path in sorted(Path(folder).glob(f"*{suffix}")) if folder else []:
            draws.append((path.name.removesuffix(suffix), source, _records(path)))
    ids = [str(r.get("prompt_id") or r["metadata"]["prompt_id"]) for r in logged]
    targets = sorted({t for r in logged for t in (r.get("target_policy_logprobs") or {})})
    prompts = dict(zip(ids, (r["prompt"] for r in logged)))
    tables = {"teacher_forced_logprobs": [], "responses": [], "judge_scores": [], "oracle_labels": []}
    for pid, r in zip(ids, logged):
        tables["teacher_forced_logprobs"].append((pid, "base", _number(r["base_policy_logprob"])))
        for t in targets:
            tables["teacher_forced_logprobs"].append((pid, t, _number((r.get("target_policy_logprobs") or {}).get(t))))
        tables["responses"].append((pid, "base", "logged", 0, r["response"], _tokens(r)))
        tables["judge_scores"].append((pid, "base", "logged", 0, float(r["judge_score"]), _variance(r)))
        if _number(r.get("oracle_label")) is not None:
            tables["oracle_labels"].append((pid, "base", "logged", 0, float(r["oracle_label"])))
    for policy, source, records in draws:
        for r in records:
            key = (str(r["prompt_id"]), policy, source, int(r.get("draw_idx") or 0))
            prompts.setdefault(key[0], r.get("prompt") or "")
            tables["responses"].append((*key, r.get("response") or "", _tokens(r)))
            if r.get("judge_score") is not None:
                tables["judge_scores"].append((*key, float(r["judge_score"]), _variance(r)))
            if _number(r.get("oracle_label")) is not None:
                tables["oracle_labels"].append((*key, float(r["oracle_label"])))
    return {"policies": [("base", True), *[(t, False) for t in targets]], "prompts": list(prompts.items()), **tables}


def _variance(r: dict):
    """metadata.judge_variance: the number, or None where absent, null or NaN."""
    return _number((r.get("metadata") or {}).get("judge_variance"))


def read_as_rows(config: LoggedDataConfig) -> dict[str, list]:
    tables = read_files(config)
    rows = {name: [tuple(r.values()) for r in table.to_pylist()] for name, table in tables.items()}
    rows["policies"] = [r[:2] for r in rows["policies"]]
    rows["oracle_labels"] = [r[:5] for r in rows["oracle_labels"]]
    rows["teacher_forced_logprobs"] = [(p, q, _number(v)) for p, q, v in rows["teacher_forced_logprobs"]]
    rows["responses"] = [(*r[:5], None if r[5] is None else ["nan" if math.isnan(v) else v for v in r[5]])
                         for r in rows["responses"]]
    return rows


def copy_sample(tmp_path: Path) -> Path:
    folder = tmp_path / "sample"
    shutil.copytree(SAMPLE, folder)
    return folder


def config_of(folder: Path, **changes) -> LoggedDataConfig:
    return LoggedDataConfig(**{"logged_data": str(folder / "logged_data.jsonl"),
                               "fresh_draws_dir": str(folder / "fresh_draws"),
                               "probe_dir": str(folder / "probe_slice"), **changes})


def test_the_bundled_sample_equals_an_independent_reading(tmp_path):
    config = config_of(copy_sample(tmp_path), oracle_fraction=0.25, seed=7)
    assert read_as_rows(config) == reference_tables(config)
    splits = read_files(config)["oracle_labels"].to_pandas().query("source == 'logged'").split
    # a quarter of the 1,000 logged rows calibrate; the other labelled rows are held out
    assert (splits == "calibration").sum() == 250 and set(splits) == {"calibration", "validation"}


def test_unusual_but_legal_values_equal_an_independent_reading(tmp_path):
    """NaN and -Infinity log-probabilities, a target missing on a row, token log-probabilities (a
    null among them), a top-level prompt_id, unlabelled rows, several draws per prompt, blank lines,
    probe rows without judge scores or with a null label."""
    folder = copy_sample(tmp_path)
    rows = sample_rows(300)
    rows[0]["target_policy_logprobs"]["clone"] = float("nan")
    rows[1]["target_policy_logprobs"]["unhelpful"] = float("-inf")
    del rows[2]["target_policy_logprobs"]["parallel_universe_prompt"]
    rows[3]["metadata"]["token_logprobs"] = [-0.5, None, float("-inf")]
    rows[4]["prompt_id"] = rows[4]["metadata"].pop("prompt_id")
    rows[5].pop("oracle_label", None)
    rows[6]["oracle_label"] = None
    rows[7]["extra"] = {"ignored": [1, 2]}
    rows[8]["base_policy_logprob"] = None  # kept, flagged later
    rows[9]["metadata"]["token_logprobs"] = []
    rows[10]["metadata"]["judge_variance"], rows[11]["metadata"]["judge_variance"] = 0.02, None
    rows[10]["prompt"] = "a line\u2028separator and a tab\t inside"  # a line ends at \n only
    write_logged(folder / "logged_data.jsonl", rows)
    draws = folder / "fresh_draws" / "clone_responses.jsonl"
    lines = draws.read_text().splitlines()
    again = [dict(json.loads(line), draw_idx=1, metadata={"token_logprobs": [-0.1], "judge_variance": 0.0})
             for line in lines[:50]]
    again[0].update(draw_idx=None, prompt=None, response=None)  # null is absent: draw 0, empty texts
    again[1].update(draw_idx=2.0)  # a whole number written as a float
    draws.write_text("\n".join(lines) + "\n\n   \n" + "".join(json.dumps(r) + "\n" for r in again))
    probe = next((folder / "probe_slice").glob("*_probe.jsonl"))
    probe_rows = [json.loads(line) for line in probe.read_text().splitlines()]
    for r in probe_rows[:5]:
        r.pop("judge_score", None)
    probe_rows[5]["oracle_label"] = None  # a probe row without a label: there, but no label
    write_logged(probe, probe_rows)
    config = config_of(folder, oracle_fraction=0.5)
    assert read_as_rows(config) == reference_tables(config)


LOGGED_FAULTS = {  # a change to logged row 10 (line 10), the message that must name it
    "text judge": (lambda r: r.update(judge_score="0.5"), 'judge_score is "0.5", not a number'),
    "bool judge": (lambda r: r.update(judge_score=True), "judge_score is true, not a number"),
    "null judge": (lambda r: r.update(judge_score=None), "judge_score is null; every row needs a finite judge score"),
    "NaN judge": (lambda r: r.update(judge_score=float("nan")), "judge_score is nan; every row needs"),
    "no base": (lambda r: r.pop("base_policy_logprob"), "missing field(s) base_policy_logprob"),
    "no texts": (lambda r: (r.pop("prompt"), r.pop("response")), "missing field(s) prompt, response"),
    "label 1.5": (lambda r: r.update(oracle_label=1.5), "oracle_label 1.5 is outside [0, 1]"),
    "label text": (lambda r: r.update(oracle_label="yes"), 'oracle_label is "yes", not a number'),
    "text token": (lambda r: r["metadata"].update(token_logprobs=[-1.0, "x"]),
                   'metadata.token_logprobs[1] is "x", not a number'),
    "tokens text": (lambda r: r["metadata"].update(token_logprobs="x"),
                    'metadata.token_logprobs is "x", not a list of numbers'),
    "text logprob": (lambda r: r["target_policy_logprobs"].update(clone="x"),
                     'target_policy_logprobs.clone is "x", not a number'),
    "targets a list": (lambda r: r.update(target_policy_logprobs=[-1.0]),
                       "target_policy_logprobs is not an object of policy -> log-probability"),
    "response a list": (lambda r: r.update(response=["a"]), 'response is ["a"], not text'),
    "no prompt id": (lambda r: r["metadata"].pop("prompt_id"), "no prompt_id (top level or metadata.prompt_id)"),
    "prompt id a list": (lambda r: r.update(prompt_id=["a"]), 'prompt_id is ["a"], not text or a whole number'),
    "metadata a list": (lambda r: r.update(metadata=[1]), "metadata is [1], not an object"),
    "variance text": (lambda r: r["metadata"].update(judge_variance="x"), 'metadata.judge_variance is "x", not a number'),
    "variance negative": (lambda r: r["metadata"].update(judge_variance=-0.5),
                          "metadata.judge_variance -0.5 is not a finite number >= 0"),
    "long row": (lambda r: r.update(prompt="x" * 2_000_001),  # the line's own length
                 lambda r: f"{len(json.dumps(r)):,} characters in one row; rows over 2,000,000 are refused"),
}


@pytest.mark.parametrize("fault", LOGGED_FAULTS)
def test_each_field_rule_names_its_row(tmp_path, fault):
    folder = copy_sample(tmp_path)
    rows = sample_rows(100)
    change, message = LOGGED_FAULTS[fault]
    change(rows[9])
    message = message(rows[9]) if callable(message) else message
    write_logged(folder / "logged_data.jsonl", rows)
    with pytest.raises(DatasetError) as caught:
        read_files(config_of(folder, fresh_draws_dir="", probe_dir=""))
    assert str(caught.value).startswith(f"{folder / 'logged_data.jsonl'}:10: {message}"), str(caught.value)


DRAW_FAULTS = {  # a line added after the draws of clone_responses.jsonl, the message that must name it
    '{"prompt_id": "a", "judge_score": 0.5, "draw_idx": false}': "draw_idx is false, not a whole number >= 0",
    '{"prompt_id": "a", "judge_score": 0.5, "draw_idx": 1.5}': "draw_idx is 1.5, not a whole number >= 0",
    '{"prompt_id": "a", "judge_score": 0.5, "prompt": 3}': "prompt is 3, not text",
    '{"prompt_id": null, "judge_score": 0.5}': "prompt_id is null, not text or a whole number",
    '{"prompt_id": "a"}': "missing field(s) judge_score",
    '{"prompt_id": "a", "judge_score": Infinity}': "judge_score is inf; every row needs a finite judge score (score it, or leave the row out)",
    '[1, 2]': "a JSON list, not an object: JSONL holds one object per line",
    '{not json': "not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
    '{"prompt_id": "a", "prompt_id": "b", "judge_score": 1}': "a key appears twice in the object: prompt_id",
}


@pytest.mark.parametrize("line", DRAW_FAULTS)
def test_each_draw_rule_names_its_line(tmp_path, line):
    folder = copy_sample(tmp_path)
    draws = folder / "fresh_draws" / "clone_responses.jsonl"
    n = len(draws.read_text().splitlines())
    draws.write_text(draws.read_text() + "\n" + line + "\n")  # after a blank line, which counts
    with pytest.raises(DatasetError) as caught:
        read_files(config_of(folder, probe_dir=""))
    assert str(caught.value) == f"{draws}:{n + 2}: {DRAW_FAULTS[line]}"


def test_a_probe_row_may_have_a_null_label_but_not_none_at_all(tmp_path):
    folder = copy_sample(tmp_path)
    probe = next((folder / "probe_slice").glob("*_probe.jsonl"))
    rows = [json.loads(line) for line in probe.read_text().splitlines()]
    rows[3]["oracle_label"] = None
    write_logged(probe, rows)
    config = config_of(folder, fresh_draws_dir="")
    assert read_as_rows(config) == reference_tables(config)
    rows[3].pop("oracle_label")
    write_logged(probe, rows)
    with pytest.raises(DatasetError, match=rf"^{probe}:4: missing field\(s\) oracle_label$"):
        read_files(config)
