"""What a user gets wrong on the command line, said in one line that names the argument or file:
a missing input, a flag value out of range, and a file whose content is wrong (the step that
refuses it named at the end, the earlier tables kept)."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def vibescope(*args: str, env: dict | None = None) -> tuple[int, list[str]]:
    out = subprocess.run([sys.executable, "-m", "vibescope", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env=env)
    return out.returncode, (out.stdout + out.stderr).strip().splitlines()


@pytest.mark.parametrize("args, said", [
    (["arena", "no_battles.jsonl"], "vibescope arena: battles no_battles.jsonl: no such file"),
    (["arena", "data/samples/anchors/lmm_vibes_arena_battles.jsonl", "--properties", "none.jsonl"],
     "vibescope arena: --properties none.jsonl: no such file"),
    (["cje", "no_logs.jsonl"], "vibescope cje: logged data no_logs.jsonl: no such file"),
    (["cje", "data/samples/cje_arena_sample/logged_data.jsonl", "--probes", "no_probes"],
     "vibescope cje: --probes no_probes: no such folder"),
    (["diff", "sample:em_base", "no_b.csv"], "vibescope diff: B no_b.csv: no such file"),
    (["acts", "no_traces.json"], "vibescope acts: traces no_traces.json: no such file"),
    (["acts", "plan", "no_traces.json"], "vibescope acts plan: no traces file no_traces.json"),
])
def test_a_missing_input_is_one_line_naming_it(args, said):
    code, lines = vibescope(*args)
    assert code != 0 and lines == [said]


@pytest.mark.parametrize("args, flag", [
    (["cje", "data/samples/cje_arena_sample/logged_data.jsonl", "--estimator", "best"], "--estimator"),
    (["arena", "data/samples/anchors/lmm_vibes_arena_battles.jsonl", "--backend", "gemini"], "--backend"),
    (["report", "--html", "x.html", "--examples", "many"], "--examples"),
])
def test_a_wrong_flag_value_names_the_flag(args, flag):
    code, lines = vibescope(*args)
    assert code == 2 and flag in lines[-1] and lines[-1].startswith("vibescope") and "error:" in lines[-1]


@pytest.mark.slow
def test_a_file_with_wrong_content_is_named_by_the_step_that_refuses_it(settings_file):
    env = {**os.environ, "VIBESCOPE_SETTINGS": str(settings_file)}
    code, lines = vibescope("diff", "tests/bad_inputs/diff_missing_column.csv", "sample:em_base", env=env)
    assert code != 0 and lines[-1] == "the diff run failed"
    assert lines[-2] == (f"FAILED diff__rows: DatasetError: {ROOT / 'tests/bad_inputs/diff_missing_column.csv'}: "
                         "missing column(s) answer; it has: text")


def test_the_report_refuses_a_negative_count_and_an_empty_project(tmp_path):
    from tests.conftest import write_settings

    code, lines = vibescope("report", "--html", str(tmp_path / "r.html"), "--examples", "-1")
    assert code != 0 and lines == ["vibescope report: --examples must be 0 or more"]
    env = {**os.environ, "VIBESCOPE_SETTINGS": str(write_settings(tmp_path / "dagster_project.toml"))}
    code, lines = vibescope("report", "--html", str(tmp_path / "r.html"), env=env)
    assert code != 0 and len(lines) == 1 and lines[0].startswith("vibescope report: no warehouse at ")
    assert not (tmp_path / "r.html").exists()  # nothing written
