"""Thinking spans and sentence splitting on real trace text and on the awkward cases."""

import json

import pandas as pd

from assets.acts.sentences import build_sentences, split_sentences, thinking_span
from tests.conftest import ROOT

TRACES = ROOT / "data/samples/reasoning/eval_responses_deepseek-r1-distill-qwen-1.5b.json"


def test_thinking_span_with_either_tag_missing():
    assert thinking_span("Q<think>abc</think>answer") == (8, 11)
    assert thinking_span("abc</think>answer") == (0, 3)       # the tag was in the prompt
    assert thinking_span("Q<think>abc, cut off") == (8, 20)   # a trace that was cut off
    assert thinking_span("no tags at all") is None


def test_decimals_abbreviations_and_numbered_steps_stay_whole():
    text = ("<think>The area is 3.14 times r squared, e.g. about 12.56 for r = 2. Dr. Smith agrees.\n"
            "1. All cats have tails.\n2. Fluffy has a tail.\nOkay.\n\nSo the answer is no.</think>")
    spans = split_sentences(text, *thinking_span(text))
    assert [text[s:e] for s, e in spans] == [
        "The area is 3.14 times r squared, e.g. about 12.56 for r = 2.", "Dr. Smith agrees.",
        "1. All cats have tails.", "2. Fluffy has a tail.", "Okay.", "So the answer is no."]


def test_bundled_traces_split_with_exact_spans():
    records = json.loads(TRACES.read_text())
    traces = pd.DataFrame({"trace_id": range(len(records)), "full_response": [r["full_response"] for r in records]})
    traces.loc[len(traces)] = [len(traces), "An answer with no thinking span at all."]
    sentences, report = build_sentences(traces, min_words=3)
    assert report["traces_without_thinking_span"] == 1
    assert report["trace_ids_without_thinking_span"] == [len(records)]
    assert report["fragments_dropped"] > 0 and sentences.n_words.min() >= 3
    by_id = traces.set_index("trace_id").full_response
    for row in sentences.sample(200, random_state=0).itertuples():
        assert by_id[row.trace_id][row.char_start:row.char_end] == row.text
        start, end = thinking_span(by_id[row.trace_id])
        assert start <= row.char_start < row.char_end <= end
    assert sentences.sentence_id.is_unique
    print(f"{len(sentences)} sentences from {len(records)} traces; {report['fragments_dropped']} fragments dropped")


def test_no_sentence_anywhere_is_an_error_naming_the_counts(settings_file, tmp_path):
    import dagster as dg

    import definitions
    from resources import build_resources

    path = tmp_path / "traces.jsonl"
    path.write_text('{"full_response": "No tags here."}\n{"full_response": "<think>Ok. Hm.</think>Yes."}\n')
    result = dg.materialize(definitions.defs.assets, resources=build_resources(str(settings_file)),
                            selection=["acts/traces", "acts/sentences"], raise_on_error=False,
                            run_config={"ops": {"acts__traces": {"config": {"source": str(path)}}}})
    assert not result.success
    message = "\n".join(str(e.event_specific_data.error) for e in result.all_events if e.is_step_failure)
    assert "no sentence of 3+ words in any thinking span (2 traces, 1 without one)" in message
    from resources.warehouse import Warehouse

    assert len(Warehouse().query("SELECT * FROM acts.traces")) == 2  # the traces step's work is kept


def test_a_traces_file_without_the_column_names_it(settings_file, tmp_path):
    import dagster as dg

    import definitions
    from resources import build_resources

    path = tmp_path / "traces.jsonl"
    path.write_text('{"response": "<think>Some thinking here.</think>"}\n')
    result = dg.materialize(definitions.defs.assets, resources=build_resources(str(settings_file)),
                            selection=["acts/traces"], raise_on_error=False,
                            run_config={"ops": {"acts__traces": {"config": {"source": str(path)}}}})
    message = "\n".join(str(e.event_specific_data.error) for e in result.all_events if e.is_step_failure)
    assert not result.success and "full_response" in message and str(path) in message
