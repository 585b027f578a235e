"""`--behaviours FILE`: what a user gets wrong in it is refused naming the file and the entry, before
anything runs; `vibescope arena plan` counts the rubric's calls (two per battle) from the same flags."""

import os

import pytest

from assets.arena.behaviours_file import read_behaviours
from tests.test_cli_errors import vibescope
from tests.conftest import ROOT

BATTLES = ROOT / "data/samples/anchors/lmm_vibes_arena_battles.jsonl"


@pytest.mark.parametrize("name, text, said", [
    ("empty.yaml", "[]\n", "the list of behaviours is empty"),
    ("no_name.yaml", "- name: verbose\n- description: no name here\n", "entry 2: no name"),
    ("blank_name.json", '[{"name": "  "}]', "entry 1: no name"),
    ("dupes.yaml", "- concise\n- {name: hedging}\n- {name: concise, description: again}\n",
     "entry 3: duplicate name 'concise' (entry 1 has it)"),
    ("keys.yaml", "- {name: a, weight: 2}\n", "entry 1: unknown key(s) weight"),
    ("desirable.yaml", "- {name: a, desirable: maybe}\n", "entry 1 ('a'): desirable must be true or false"),
    ("scalar.yaml", "just a sentence\n", "expected a list of behaviours"),
    ("broken.json", '[{"name": "a"', "not valid JSON"),
])
def test_a_malformed_behaviours_file_is_refused_naming_file_and_entry(tmp_path, name, text, said):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError) as refused:
        read_behaviours(path)
    assert str(refused.value).startswith(f"{path}: ") and said in str(refused.value)


def test_a_good_file_in_either_form_reads_in_order(tmp_path):
    yaml_file, json_file = tmp_path / "b.yaml", tmp_path / "b.json"
    yaml_file.write_text("behaviours:\n  - {name: concise, description: Short answers, desirable: true}\n  - hedging\n")
    json_file.write_text('[{"name": "concise", "description": "Short answers", "desirable": true}, "hedging"]')
    for path in (yaml_file, json_file):
        read = read_behaviours(path)
        assert read.name.tolist() == ["concise", "hedging"] and read.desirable.tolist()[0] is True
        assert read.description.tolist() == ["Short answers", ""]


def test_the_command_refuses_a_bad_file_before_anything_runs(tmp_path, settings_file):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- name: a\n- name: a\n")
    warehouse = settings_file.parent / "data" / "warehouse.duckdb"
    env = {**os.environ, "VIBESCOPE_SETTINGS": str(settings_file)}
    code, lines = vibescope("arena", str(BATTLES), "--behaviours", str(bad), env=env)
    assert code != 0 and lines == [f"{bad}: entry 2: duplicate name 'a' (entry 1 has it)"]
    assert not warehouse.exists()  # nothing started, so nothing could be lost
    code, lines = vibescope("arena", str(BATTLES), "--no-discovery", env=env)
    assert code != 0 and "--no-discovery" in lines[-1] and len(lines) == 1


def test_the_plan_counts_two_scorer_calls_a_battle_and_no_describer_without_discovery(tmp_path):
    given = tmp_path / "b.yaml"
    given.write_text("- concise\n- hedging\n")
    n = len(BATTLES.read_text().splitlines())
    code, lines = vibescope("arena", "plan", str(BATTLES), "--model", "gpt-4o-mini", "--backend", "openai")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in lines if line.split()[0] in ("describer", "scorer")}
    assert rows["describer"][2] == str(n) and rows["scorer"][2] == str(2 * n)
    assert rows["scorer"][-1] == "USD"  # gpt-4o-mini has a price in the settings
    code, lines = vibescope("arena", "plan", str(BATTLES), "--behaviours", str(given), "--no-discovery")
    assert code == 0 and not any(line.startswith("describer ") for line in lines)
    assert any(line.startswith("scorer ") and f" {2 * n} calls" in line for line in lines)
