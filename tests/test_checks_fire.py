"""Every SQL check (sql/checks/) fires on tables that break its rule and passes on tables that keep
it. The tables are real DuckDB tables with the columns their contracts declare; a check on a
guard rail runs over cje.guard_rails as sql/cje/guard_rails.sql computes it from its inputs, so the
rule's threshold is what is tested, not a row written to match. A check without both cases here
fails the listing test; the contract checks have theirs in tests/test_contracts.py."""

from pathlib import Path

import duckdb
import pytest

from resources.contracts import load_contracts
from resources.settings import PROJECT_ROOT

CHECKS = PROJECT_ROOT / "sql" / "checks"
GUARD_RAILS = (PROJECT_ROOT / "sql" / "cje" / "guard_rails.sql").read_text()

# the inputs of cje.guard_rails that break no rule: 200 labels, a strong judge, healthy weights
CALIBRATION = {"n_labels": 200, "min_labels_per_fold": 40, "spearman": 0.8, "n_outside_label_range": 0,
               "judge_min_labelled": 0.0, "judge_max_labelled": 1.0}
WEIGHTS = {"policy": "pi", "declared_identical": False, "n": 100, "n_flagged": 0, "ess_fraction": 0.8,
           "max_weight": 3.0, "top5_weight_share": 0.1, "hill_tail_index": 4.0, "share_weight_exactly_one": 0.0,
           "max_deviation_from_one": 0.9, "n_weight_zero": 0}
ESTIMATE = {"policy": "pi", "estimator": "dr", "v_hat": 0.5, "ci_low": 0.4, "ci_high": 0.6, "oracle_truth": 0.5,
            "n_truth": 50, "covered": True, "extrapolated_share": 0.0, "reason": None}


def guard_rail_inputs(calibration=None, weights=None, estimate=None) -> dict:
    return {"cje.calibration_summary": [{**CALIBRATION, **(calibration or {})}],
            "cje.weight_diagnostics": [{**WEIGHTS, **(weights or {})}],
            "cje.policy_estimates": [{**ESTIMATE, **(estimate or {})}]}


def flagged(n_bad: int) -> dict:
    rows = [{"policy": "pi", "prompt_id": f"p{i}", "problem": "NaN log-probability" if i < n_bad else None}
            for i in range(100)]
    return {"cje.importance_weights": rows}


def teacher_forced(clone_logprob: float, flag=None) -> dict:
    return {"cje_logs.policies": [{"policy": "p0", "is_base": True}, {"policy": "pi_clone", "is_base": False}],
            "cje_logs.identical_policies": [{"policy": "pi_clone", "base_policy": "p0", "declared": False}],
            "cje_logs.teacher_forced_logprobs": [
                {"prompt_id": "q", "policy": "p0", "logprob": -12.5, "flag": flag},
                {"prompt_id": "q", "policy": "pi_clone", "logprob": clone_logprob}]}


def assignments(n_assigned: int) -> dict:
    return {"acts.cluster_fits": [{"method": "kmeans", "k": 2}],
            "acts.activations": [{"sentence_id": f"s{i}"} for i in range(3)],
            "acts.cluster_assignments": [{"method": "kmeans", "k": 2, "sentence_id": f"s{i}", "cluster_id": i % 2}
                                         for i in range(n_assigned)]}


# check -> (tables on which it fires, tables on which it passes)
CASES = {
    "cje_few_oracle_labels": (guard_rail_inputs(calibration={"n_labels": 30, "min_labels_per_fold": 6}),
                              guard_rail_inputs()),
    "cje_weak_judge": (guard_rail_inputs(calibration={"spearman": 0.3}), guard_rail_inputs()),
    "cje_judge_outside_label_range": (guard_rail_inputs(calibration={"n_outside_label_range": 12}),
                                      guard_rail_inputs()),
    "cje_low_ess": (guard_rail_inputs(weights={"ess_fraction": 0.05}), guard_rail_inputs()),
    "cje_extreme_weights": (guard_rail_inputs(weights={"hill_tail_index": 1.4}), guard_rail_inputs()),
    "cje_identical_policy_not_identical": (
        guard_rail_inputs(weights={"declared_identical": True, "max_deviation_from_one": 0.02}),
        guard_rail_inputs(weights={"declared_identical": True, "max_deviation_from_one": 0.0,
                                   "share_weight_exactly_one": 1.0})),
    "cje_outside_sampling_support": (guard_rail_inputs(weights={"n_weight_zero": 7}), guard_rail_inputs()),
    "cje_estimate_withheld": (guard_rail_inputs(estimate={"reason": "ESS 3.4 of 1000 rows"}), guard_rail_inputs()),
    "cje_ci_misses_oracle_truth": (guard_rail_inputs(estimate={"covered": False, "oracle_truth": 0.9}),
                                   guard_rail_inputs()),
    "cje_flagged_logprobs": (flagged(6), flagged(5)),  # above 5% of the policy's rows blocks
    "cje_logs_identical_policies_have_weight_one": (teacher_forced(-12.500001), teacher_forced(-12.5)),
    "cje_logs_flagged_logprobs": (teacher_forced(-12.5, flag="positive log-probability"), teacher_forced(-12.5)),
    "acts_every_sentence_assigned": (assignments(2), assignments(3)),
    "acts_unparsed_grades": ({"acts.grades": [{"method": "kmeans", "k": 2, "repetition": 0, "metric": "membership",
                                               "error": "no JSON object"}]},
                             {"acts.grades": [{"method": "kmeans", "k": 2, "repetition": 0, "metric": "membership",
                                               "answer": 1.0}]}),
    "arena_unparsed_differences": ({"arena.battle_differences": [{"battle_id": "b", "error": "not JSON", "raw": "x"}]},
                                   {"arena.battle_differences": [{"battle_id": "b", "properties_json": "[]"}]}),
    "llm_calls_without_errors": ({"core.llm_calls": [{"call_id": 1, "role": "judge", "error": "timeout"}]},
                                 {"core.llm_calls": [{"call_id": 1, "role": "judge"}]}),
    "role_health_all_roles_answer": ({"core.role_health": [{"role": "judge", "ok": False, "error": "401"}]},
                                     {"core.role_health": [{"role": "judge", "ok": True}]}),
}


def warehouse(tables: dict[str, list[dict]]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with each table as its contract declares it, holding `rows` (the columns
    not given are null); cje.guard_rails computed by its SQL model where its inputs are there."""
    con = duckdb.connect()
    contracts = load_contracts()
    for table, rows in tables.items():
        contract = contracts[table]
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {contract.schema}")
        con.execute(f"CREATE TABLE {table} (" + ", ".join(f'"{c.name}" {c.data_type}' for c in contract.columns) + ")")
        for row in rows:
            unknown = set(row) - {c.name for c in contract.columns}
            assert not unknown, (table, unknown)
            con.execute(f"INSERT INTO {table} BY NAME SELECT " + ", ".join(f"? AS \"{k}\"" for k in row), list(row.values()))
    if "cje.weight_diagnostics" in tables:
        con.execute(f"CREATE TABLE cje.guard_rails AS {GUARD_RAILS}")
    return con


@pytest.mark.parametrize("check", sorted(CASES))
def test_a_check_fires_on_a_broken_table_and_passes_on_a_sound_one(check):
    sql = (CHECKS / f"{check}.sql").read_text()
    fires, passes = CASES[check]
    assert len(warehouse(fires).execute(sql).fetchall()) > 0, f"{check} did not fire"
    assert warehouse(passes).execute(sql).fetchall() == [], f"{check} fired on sound tables"


def test_every_check_has_a_case_that_fires_and_one_that_passes():
    assert sorted(p.stem for p in CHECKS.glob("*.sql")) == sorted(CASES)


def test_every_guard_rail_rule_has_a_check():
    """Each rule of cje.guard_rails is surfaced by a check in the Dagster UI."""
    import re

    rules = set(re.findall(r"SELECT '([a-z_]+)'(?: AS rule)?,", GUARD_RAILS))
    checked = {m for p in CHECKS.glob("cje_*.sql") for m in re.findall(r"rule = '([a-z_]+)'", p.read_text())}
    assert rules and rules - checked <= {"flagged_logprobs"}  # that one: cje_flagged_logprobs, by its share
    assert Path(CHECKS / "cje_flagged_logprobs.sql").read_text().count("blocking: true") == 1
