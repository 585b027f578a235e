"""The anchor tools' own published files read as they are (data/samples/anchors, PROVENANCE.md):
LMM-Vibes / StringSight side-by-side battles and properties, StringSight's single-model demo, and
arena-hard-auto's model answers. Every expected value is read from the raw file here, with the
standard library, not from our loaders."""

import json

import pytest

from assets.arena.battles import load_battles
from assets.arena.config import BattlesConfig
from assets.arena.properties_file import read_properties
from resources.datasets import SAMPLES_DIR, DatasetError, Datasets

ANCHORS = SAMPLES_DIR / "anchors"
BATTLES = ANCHORS / "lmm_vibes_arena_battles.jsonl"
PROPERTIES = ANCHORS / "lmm_vibes_arena_properties.jsonl"
SINGLE = ANCHORS / "stringsight_airline_single_model.jsonl"


def raw(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def side_of(row) -> str:
    """LMM-Vibes names the winning model; ties stay ties (both-bad ones too)."""
    w = row["winner"]
    return "model_a" if w == row["model_a"] else "model_b" if w == row["model_b"] else "tie"


def test_side_by_side_battles_keep_their_ids_responses_and_winners():
    rows = raw(BATTLES)
    frame = load_battles(BattlesConfig(dataset=str(BATTLES), num_samples=0, filter_english=False), Datasets()).set_index("battle_id")
    assert sorted(frame.index) == sorted(r["question_id"] for r in rows)  # ids, not positions
    for r in rows:
        b = frame.loc[r["question_id"]]
        assert (b.model_a, b.model_b, b.winner) == (r["model_a"], r["model_b"], side_of(r))
        assert b.response_a == r["model_a_response"] and b.response_b == r["model_b_response"]
    # the file names models as winners: some battles are won by each side
    assert {"model_a", "model_b", "tie"} <= set(frame.winner)


@pytest.mark.parametrize("as_text", [False, True])
def test_their_conversation_columns_give_the_same_battles_keyed_by_question_id(as_text):
    """Without the *_response columns the battles come from conversation_a/b (lists of messages;
    as_text: written as Python-literal text, as a CSV export of their frames holds them)."""
    rows = raw(BATTLES)
    trimmed = BATTLES.parent / "conversations_only.jsonl"
    convert = str if as_text else (lambda v: v)
    try:
        trimmed.write_text("".join(json.dumps({k: convert(v) if k.startswith("conversation_") else v
                                               for k, v in r.items() if not k.endswith("_response")}) + "\n"
                                   for r in rows))
        frame = load_battles(BattlesConfig(dataset=str(trimmed), num_samples=0, filter_english=False), Datasets()).set_index("battle_id")
    finally:
        trimmed.unlink()
    for r in rows:
        conversation = r["conversation_b"]
        answer = "\n\n".join(m["content"] for m in conversation if m["role"] == "assistant")
        assert frame.loc[r["question_id"], "response_b"] == answer
        assert frame.loc[r["question_id"], "winner"] == side_of(r)


def test_their_properties_file_imports_and_a_row_without_a_property_is_skipped_and_counted():
    rows = raw(PROPERTIES)
    with_property = [r for r in rows if r.get("property_description")]
    assert len(rows) - len(with_property) == 1  # the file's battle in which the extractor found nothing
    battles = load_battles(BattlesConfig(dataset=str(PROPERTIES), num_samples=0, filter_english=False), Datasets())  # the same file as battles
    assert len(battles) == len({r["question_id"] for r in rows})
    found, report = read_properties(PROPERTIES, battles)
    assert report["properties"] == len(with_property) and report["rows_without_property"] == 1
    assert report["unmatched_question_ids"] == []
    by_battle = {b: json.loads(p) for b, p in zip(found.battle_id, found.properties_json)}
    for r in with_property:
        side = "A" if r["model"] == r["model_a"] else "B"
        assert any(p["property_description"] == r["property_description"] and p["model"] == side
                   for p in by_battle[r["question_id"]])
    assert sum(len(v) for v in by_battle.values()) == len(with_property)


def test_their_single_model_file_pairs_two_models_per_prompt_and_the_reward_decides():
    rows = raw(SINGLE)
    frame = load_battles(BattlesConfig(dataset=str(SINGLE), num_samples=0, filter_english=False), Datasets())
    models = sorted({r["model"] for r in rows})
    assert len(frame) == len({r["prompt"] for r in rows})
    for b in frame.itertuples():
        reward = {r["model"]: float(r["reward"]) for r in rows if r["prompt"] == b.prompt}
        expected = ("model_a" if reward[models[0]] > reward[models[1]] else
                    "model_b" if reward[models[1]] > reward[models[0]] else "tie")
        assert (b.model_a, b.model_b, b.winner) == (models[0], models[1], expected)
    # a third model with no pair named: refused, naming what to do
    three = SINGLE.parent / "three_models.jsonl"
    try:
        three.write_text(SINGLE.read_text() + json.dumps({**rows[0], "model": "third"}) + "\n")
        with pytest.raises(DatasetError, match="3 models .*name the two to compare with models"):
            load_battles(BattlesConfig(dataset=str(three), num_samples=0, filter_english=False), Datasets())
    finally:
        three.unlink()


@pytest.mark.parametrize("model", ["gpt-3.5-turbo-0125", "gpt-4-0613"])
def test_arena_hard_model_answers_read_as_a_dataset_of_answers(model):
    path = ANCHORS / f"arena_hard_{model}.jsonl"
    rows = raw(path)
    frame = Datasets().load(str(path), columns=["answer", "uid"])

    def messages(r):
        return r["messages"]

    expected = [messages(r)[-1]["content"]["answer"] for r in rows]
    assert frame.answer.tolist() == expected and frame.uid.tolist() == [r["uid"] for r in rows]
    assert frame.question.tolist() == [messages(r)[0]["content"] for r in rows]


def test_a_conversation_cell_that_is_no_message_list_is_refused_naming_row_and_column(tmp_path):
    rows = raw(BATTLES)[:3]
    rows[1] = {**{k: v for k, v in rows[1].items() if not k.endswith("_response")}, "conversation_b": "{oops"}
    path = tmp_path / "broken.jsonl"
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if not k.endswith("_response")}) + "\n" for r in rows))
    with pytest.raises(DatasetError, match=r"broken.jsonl: row 2, column conversation_b: not a list of messages"):
        load_battles(BattlesConfig(dataset=str(path), num_samples=0, filter_english=False), Datasets())


def test_a_single_model_file_without_a_score_says_what_decides_the_winner(tmp_path):
    path = tmp_path / "no_reward.jsonl"
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "reward"}) + "\n" for r in raw(SINGLE)))
    with pytest.raises(DatasetError, match=r"no_reward.jsonl: question .*: no numeric reward or score for"):
        load_battles(BattlesConfig(dataset=str(path), num_samples=0, filter_english=False), Datasets())


def test_an_unknown_bundled_sample_is_named():
    from resources.datasets import sample_path

    assert sample_path("sample:cje_arena_sample/fresh_draws").endswith("data/samples/cje_arena_sample/fresh_draws")
    with pytest.raises(DatasetError, match="sample:cje_arena_sampel: no such bundled sample"):
        sample_path("sample:cje_arena_sampel")
