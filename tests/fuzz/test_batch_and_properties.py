"""OpenAI Batch API output lines and StringSight / LMM-Vibes properties files, fuzzed: an output
line becomes exactly an answer or a failure with its reason, whatever it holds; a properties file
is read into a row per battle or refused in one line naming the file."""

import csv
import json

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.arena.properties_file import read_properties
from resources.datasets import DatasetError
from resources.llm.batch_output import parse_output_line
from tests.fuzz import EXAMPLES, assert_one_line_naming, text_values

FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text_values,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text_values, inner, max_size=3),
                           max_leaves=8)


def answered(text, reason="stop", usage=None):
    return {"custom_id": "k", "response": {"status_code": 200, "body": {
        "choices": [{"message": {"content": text}, "finish_reason": reason}], "usage": usage or {}}}}


@st.composite
def output_lines(draw):
    """A line as the Batch API writes it, then perhaps a part of it replaced by anything JSON holds."""
    line = draw(st.sampled_from(["answer", "error", "status"]))
    text = draw(text_values)
    base = (answered(text, usage={"prompt_tokens": 3, "completion_tokens": 2}) if line == "answer" else
            {"custom_id": "k", "error": {"code": "x", "message": "y"}} if line == "error" else
            {"custom_id": "k", "response": {"status_code": 500, "body": {"error": {"message": "down"}}}})
    path = draw(st.sampled_from([None, None, ("response",), ("response", "body"), ("response", "body", "choices"),
                                 ("response", "body", "usage"), ("error",), ("response", "status_code")]))
    spoiled = path is not None
    if spoiled:
        target = base
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[path[-1]] = draw(json_values)
    if draw(st.integers(0, 20)) == 0:
        base, spoiled = draw(json_values), True
    return line, text, base, spoiled


@FUZZ
@given(case=output_lines())
def test_a_batch_output_line_is_an_answer_or_a_failure_with_its_reason(case):
    kind, text, line, spoiled = case
    out, why = parse_output_line(line)
    assert (out is None) != (why is None)
    if out is None:
        assert isinstance(why, str) and why
        assert spoiled or kind != "answer", why
    else:
        assert isinstance(out["text"], str) and set(out) == {"text", "finish_reason", "prompt_tokens",
                                                             "completion_tokens", "truncated"}
        assert all(v is None or (isinstance(v, int) and v >= 0) for v in (out["prompt_tokens"], out["completion_tokens"]))
        if not spoiled:
            assert kind == "answer" and out["text"] == text and out["prompt_tokens"] == 3


BATTLES = pd.DataFrame({"battle_id": ["q0", "q1", "q2"], "model_a": ["gpt-4o", "gpt-4o", "llama"],
                        "model_b": ["claude", "llama", "claude"]})
prop = st.fixed_dictionaries({
    "question_id": st.sampled_from(["q0", "q1", "q2", "q9", 0, None]),
    "model": st.sampled_from(["A", "B", "gpt-4o", "claude", "llama", "nobody", None, 3]),
    "property_description": st.one_of(text_values, st.none(), st.integers()),
}, optional={"evidence": st.one_of(text_values, st.lists(text_values, max_size=2), st.none()),
             "contains_errors": st.sampled_from([True, False, "yes", "no", "maybe", None, 1, 2.5]),
             "impact": st.one_of(text_values, st.none()), "extra": text_values})


@FUZZ
@given(rows=st.lists(prop, min_size=1, max_size=6), kind=st.sampled_from(["jsonl", "csv"]))
def test_a_properties_file_gives_a_row_per_battle_or_is_refused_in_one_line(tmp_path_factory, rows, kind):
    path = tmp_path_factory.mktemp("props") / f"properties.{kind}"
    if kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pd.DataFrame(rows).to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)  # a lone \r quoted too
    try:
        frame, report = read_properties(path, BATTLES)
    except DatasetError as exc:
        assert_one_line_naming(str(exc), path)
        return
    assert frame.battle_id.tolist() == BATTLES.battle_id.tolist()
    parsed = [json.loads(j) for j in frame.properties_json]
    assert sum(map(len, parsed)) == report["properties"] <= report["rows_read"] == len(rows)
    for properties in parsed:
        assert all(p["model"] in ("A", "B") and isinstance(p["property_description"], str) for p in properties)
