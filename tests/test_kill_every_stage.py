"""SIGKILL during every LLM stage that has a call cache, then run again (tests/helpers/kill.py): a
run killed in a stage after its first answer, the next run resuming it, no answer asked twice.
Where each stage is killed is listed here, and a test holds the list complete."""

import json
import os
import sys

import pytest

from resources.warehouse import Warehouse
from tests.conftest import ROOT, write_settings
from tests.helpers.kill import run_killed_in_each

KILLED_IN = {  # stage: the test that kills a run in it
    "arena/battle_differences": "tests/test_kill_every_stage.py::test_a_users_battles_all_described_after_a_kill",
    "arena/behaviour_scores": "tests/test_kill_every_stage.py::test_a_users_battles_all_described_after_a_kill",
    "arena/property_clusters": "tests/test_your_data.py::test_readme_recipe_runs_on_the_files_it_names_and_reads_nothing_else[arena]",
    "arena/prompt_categories": "tests/test_your_data.py::test_readme_recipe_runs_on_the_files_it_names_and_reads_nothing_else[arena]",
    "diff/iterations": "tests/test_your_data.py::test_readme_recipe_runs_on_the_files_it_names_and_reads_nothing_else[diff]",
    "acts/traces": "tests/test_kill_every_stage.py::test_traces_for_questions_resume_after_a_kill",
    "acts/cluster_titles": "tests/test_your_data.py::test_readme_recipe_runs_on_the_files_it_names_and_reads_nothing_else[acts]",
    "acts/grades": "tests/test_your_data.py::test_readme_recipe_runs_on_the_files_it_names_and_reads_nothing_else[acts]",
    "cje_logs/responses": "tests/cje/test_build_logs.py::test_experiment_clone_weights_are_one_and_cje_eval_reads_the_logs",
    "cje_logs/teacher_forced_logprobs": "tests/cje/test_build_logs.py::test_experiment_clone_weights_are_one_and_cje_eval_reads_the_logs",
    "cje_logs/judge_scores": "tests/cje/test_build_logs.py::test_experiment_clone_weights_are_one_and_cje_eval_reads_the_logs",
    "cje_logs/oracle_labels": "tests/cje/test_build_logs.py::test_experiment_clone_weights_are_one_and_cje_eval_reads_the_logs",
}
# core/role_health asks each role for a word before a run: nothing to resume, and it writes no answer


def test_every_llm_stage_is_killed_in_some_test():
    import dagster as dg

    import definitions
    from assets.core.llm_calls import LLM_KIND

    stages = set()
    for a in definitions.defs.assets:
        if isinstance(a, dg.AssetsDefinition) and a.is_executable and a.op.name != "core__role_health" \
                and LLM_KIND in {k for spec in a.specs for k in spec.kinds}:
            stages.add(a.op.name.replace("__", "/", 1))  # a multi-asset step by its op, as the call log names it
    assert stages == set(KILLED_IN), f"not killed anywhere: {sorted(stages - set(KILLED_IN))}"
    for test in set(KILLED_IN.values()):
        path, name = test.split("::")
        source = (ROOT / path).read_text()
        assert f"def {name.split('[')[0]}(" in source and "run_killed_in_each(" in source, test


def project(tmp_path, user: bool) -> tuple[Warehouse, dict]:
    settings = write_settings(tmp_path / "dagster_project.toml")
    env = {k: v for k, v in os.environ.items() if not (user and k == "VIBESCOPE_PROFILE")}
    return Warehouse(settings_file=str(settings)), {**env, "VIBESCOPE_SETTINGS": str(settings)}


@pytest.mark.slow
def test_a_users_battles_all_described_after_a_kill(tmp_path):
    """More battles than the demo profile's sample, no --num-samples: the embedded describer reads
    every one (a row of arena.battle_differences each, parsed or with its error), and the embedded
    scorer scores each in both orders (every call parsed or its error kept), across a kill in each."""
    rows = (ROOT / "data/samples/anchors/lmm_vibes_arena_battles.jsonl").read_text().splitlines()[:5]
    battles = tmp_path / "my_battles.jsonl"
    battles.write_text("\n".join(rows) + "\n")
    wh, env = project(tmp_path, user=True)
    out = run_killed_in_each([sys.executable, "-m", "vibescope", "arena", str(battles)], env, tmp_path,
                             ["arena/battle_differences", "arena/behaviour_scores"], wh,
                             tmp_path / "data" / "llm_cache.sqlite", timeout=1500)
    assert "role describer" in out and "which model is better" in out
    described = wh.query("SELECT count(*) AS n, count(*) FILTER (WHERE properties_json IS NOT NULL OR "
                         "error IS NOT NULL) AS done FROM arena.battle_differences").iloc[0]
    assert described.n == described.done == len(rows)
    calls = wh.query("SELECT battle_id, answer_order, bool_and(answer IS NOT NULL) AS answered, "
                     "bool_and(error IS NOT NULL) AS failed FROM arena.behaviour_scores GROUP BY ALL")
    assert len(calls) == 2 * len(rows) and (calls.answered | calls.failed).all()
    style = wh.query("SELECT count(DISTINCT battle_id) AS n FROM arena.response_style").n[0]
    assert style == len(rows)


@pytest.mark.slow
def test_traces_for_questions_resume_after_a_kill(tmp_path):
    """Role policy.reasoner writes a trace per question (acts/traces), killed after its first."""
    wh, env = project(tmp_path, user=False)
    settings = tmp_path / "dagster_project.toml"
    settings.write_text(settings.read_text().replace("max_tokens = 384", "max_tokens = 48"))  # policy.reasoner
    questions = tmp_path / "questions.csv"
    questions.write_text("question\nIs 17 a prime number?\nWhat is 12 times 12?\nHow many legs do three spiders have?\n")
    spec = {"upstream_of": ["acts/sentences"], "run_config": {"ops": {"acts__traces": {"config": {"questions": str(questions)}}}}}
    run_killed_in_each([sys.executable, "-m", "tests.helpers.materialize", "project", json.dumps(spec)], env, ROOT,
                       ["acts/traces"], wh, tmp_path / "data" / "llm_cache.sqlite")
    assert len(wh.query("SELECT * FROM acts.traces")) == 3
