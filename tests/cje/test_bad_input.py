"""Bad logged data: flagged and counted, or refused with a message naming the file and row."""

import json
import math
import re

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from resources import build_resources
from resources.warehouse import Warehouse
from tests.cje.conftest import SAMPLE, cje_assets, materialize_cje, sample_rows, write_logged

N = 300


def run(settings_file, tmp_path, rows, **config):
    path = write_logged(tmp_path / "logged.jsonl", rows)
    return materialize_cje(settings_file, logged_data=str(path), **config)


def failure_message(result) -> str:
    error = result.get_step_failure_events()[0].event_specific_data.error
    while error.cause is not None:
        error = error.cause
    return error.message


def test_bad_logprobs_are_flagged_counted_and_excluded(settings_file, tmp_path):
    rows = sample_rows(N)
    rows[0]["target_policy_logprobs"]["clone"] = float("nan")
    rows[1]["target_policy_logprobs"]["clone"] = 3.5            # positive: impossible
    rows[2]["base_policy_logprob"] = None                       # missing
    del rows[3]["target_policy_logprobs"]["unhelpful"]          # target missing on a row
    rows[4]["target_policy_logprobs"]["unhelpful"] = float("-inf")  # cannot be sampled: weight 0
    rows[5]["base_policy_logprob"] = float("-inf")                # an infinite weight
    assert run(settings_file, tmp_path, rows).success
    wh = Warehouse()
    problems = wh.query("""SELECT policy, problem, count(*) AS n FROM cje.importance_weights
                           WHERE problem IS NOT NULL GROUP BY ALL ORDER BY ALL""")
    got = {(r.policy, r.problem): r.n for r in problems.itertuples()}
    assert got[("clone", "missing log-probability")] == 2  # the NaN and the missing base
    assert got[("clone", "positive log-probability")] == 1
    assert got[("unhelpful", "missing log-probability")] == 2
    assert got[("unhelpful", "base log-probability -inf: infinite weight")] == 1
    diag = wh.query("SELECT policy, n, n_flagged, n_weight_zero FROM cje.weight_diagnostics").set_index("policy")
    assert diag.loc["clone", "n_flagged"] == 4 and diag.loc["clone", "n"] == N - 4
    assert diag.loc["unhelpful", "n_flagged"] == 3 and diag.loc["unhelpful", "n_weight_zero"] == 1
    rails = wh.query("SELECT rule, subject FROM cje.guard_rails")
    assert set(rails[rails.rule == "flagged_logprobs"].subject) >= {"clone", "unhelpful", "base", "parallel_universe_prompt"}
    assert "unhelpful" in set(rails[rails.rule == "outside_sampling_support"].subject)


def test_zero_total_weight_is_critical_and_nan_with_reason(settings_file, tmp_path):
    rows = sample_rows(N)
    for r in rows:
        r["target_policy_logprobs"]["unhelpful"] = r["base_policy_logprob"] - 800.0  # exp underflows to 0
    assert run(settings_file, tmp_path, rows).success
    wh = Warehouse()
    assert wh.query("SELECT status FROM cje.weight_diagnostics WHERE policy = 'unhelpful'").status[0] == "CRITICAL"
    est = wh.query("SELECT * FROM cje.policy_estimates WHERE policy = 'unhelpful'").set_index("estimator")
    for name in ("snips", "cal_ips", "dr"):
        assert math.isnan(est.loc[name, "v_hat"]) and est.loc[name, "reason"] == "total importance weight is zero"
    # direct needs no weights: its interval stands (its point estimate is withheld for thin labels)
    # ips (mean of w R) would be 0 here, an ESS of 0 carries no estimate
    assert math.isnan(est.loc["ips", "v_hat"]) and est.loc["ips", "reason"].startswith("effective sample size 0.0 of")
    assert np.isfinite(est.loc["direct", "ci_low"])
    assert "weight" not in str(est.loc["direct", "reason"])


def test_duplicate_prompt_ids_are_refused(settings_file, tmp_path):
    rows = sample_rows(N)
    rows[7]["metadata"]["prompt_id"] = rows[3]["metadata"]["prompt_id"]
    path = write_logged(tmp_path / "dupes.jsonl", rows)
    result = materialize_cje(settings_file, raise_on_error=False, logged_data=str(path))
    assert not result.success
    msg = failure_message(result)
    assert "dupes.jsonl" in msg and rows[3]["metadata"]["prompt_id"] in msg and "duplicate" in msg


@pytest.mark.parametrize("fraction, message", [
    (0.004, "leaves 1 oracle label"),
    (1.5, "oracle_fraction must be in (0, 1]"),
])
def test_oracle_fraction_errors(settings_file, tmp_path, fraction, message):
    path = write_logged(tmp_path / "logged.jsonl", sample_rows(N))
    result = materialize_cje(settings_file, raise_on_error=False, logged_data=str(path),
                             oracle_fraction=fraction)
    assert not result.success and message in failure_message(result)


def test_fewer_labels_than_folds_is_a_clear_error(settings_file, tmp_path):
    rows = sample_rows(N)
    labelled = [r for r in rows if r.get("oracle_label") is not None]
    for r in labelled[3:]:
        r.pop("oracle_label")
    path = write_logged(tmp_path / "logged.jsonl", rows)
    result = materialize_cje(settings_file, raise_on_error=False, logged_data=str(path))
    assert not result.success
    assert "3 oracle labels is fewer than n_folds=5" in failure_message(result)


def test_judge_scores_outside_the_labelled_range_are_flagged(settings_file, tmp_path):
    rows = sample_rows(N)
    for r in rows:
        if r.get("oracle_label") is not None:
            r["judge_score"] = min(max(r["judge_score"], 0.3), 0.9)  # labels only see 0.3..0.9
    rows[0]["judge_score"], rows[1]["judge_score"] = 0.05, 0.99
    rows[0].pop("oracle_label", None), rows[1].pop("oracle_label", None)
    assert run(settings_file, tmp_path, rows).success
    wh = Warehouse()
    flagged = wh.query("""SELECT prompt_id FROM cje.calibrated_rewards
                          WHERE outside_label_range AND source = 'logged'""").prompt_id
    assert {rows[0]["metadata"]["prompt_id"], rows[1]["metadata"]["prompt_id"]} <= set(flagged)
    assert wh.query("SELECT count(*) AS n FROM cje.guard_rails WHERE rule = 'judge_outside_label_range'").n[0] == 1


def test_malformed_rows_name_file_and_line(settings_file, tmp_path):
    rows = sample_rows(5)
    path = write_logged(tmp_path / "logged.jsonl", rows)
    path.write_text(path.read_text() + "{not json\n")
    result = materialize_cje(settings_file, raise_on_error=False, logged_data=str(path))
    assert "logged.jsonl:6: not JSON" in failure_message(result)
    del rows[2]["judge_score"]
    write_logged(path, rows)
    result = materialize_cje(settings_file, raise_on_error=False, logged_data=str(path))
    assert "logged.jsonl:3: missing field(s) judge_score" in failure_message(result)
    result = materialize_cje(settings_file, raise_on_error=False, logged_data=str(tmp_path / "nope.jsonl"))
    assert "nope.jsonl: file not found" in failure_message(result)


def test_prompts_without_fresh_draws_withhold_dr_naming_one(settings_file, tmp_path):
    rows = sample_rows(N)
    dropped = {rows[3]["metadata"]["prompt_id"], rows[7]["metadata"]["prompt_id"]}
    fresh = tmp_path / "fresh_draws"
    fresh.mkdir()
    for path in (SAMPLE / "fresh_draws").glob("*_responses.jsonl"):
        lines = path.read_text().splitlines(keepends=True)
        if path.name == "clone_responses.jsonl":
            lines = [line for line in lines if json.loads(line)["prompt_id"] not in dropped]
        (fresh / path.name).write_text("".join(lines))
    assert run(settings_file, tmp_path, rows, fresh_draws_dir=str(fresh)).success
    est = Warehouse().query("SELECT estimator, v_hat, reason FROM cje.policy_estimates WHERE policy = 'clone'"
                            ).set_index("estimator")
    assert math.isnan(est.loc["dr", "v_hat"])
    match = re.fullmatch(r"2 logged prompts have no fresh draw \(e\.g\. (.+)\)", est.loc["dr", "reason"])
    assert match and match.group(1) in dropped
    assert not math.isnan(est.loc["direct", "v_hat"])  # direct averages the draws there are


def test_estimates_on_stale_or_missing_jackknife_rewards_say_what_to_run(settings_file, tmp_path):
    """cje.jackknife_rewards lacking a calibration input of cje.calibrated_rewards (edited by hand), or absent
    (a warehouse from before the table): the estimates step says which step to run again, and the
    estimates already there stay."""
    assert run(settings_file, tmp_path, sample_rows(N)).success
    wh = Warehouse()
    before = wh.query("SELECT * FROM cje.policy_estimates ORDER BY policy, estimator")
    assets, _ = cje_assets()
    estimates = dg.AssetSelection.assets(["cje", "policy_estimates"]).required_multi_asset_neighbors()
    for change, message in (
            ("DELETE FROM cje.jackknife_rewards WHERE score_key = (SELECT max(score_key) FROM cje.jackknife_rewards)",
             "cje.jackknife_rewards lacks calibration inputs of cje.calibrated_rewards: materialize cje.calibrated_rewards"),
            ("DROP TABLE cje.jackknife_rewards", "cje.jackknife_rewards is missing: materialize cje.calibrated_rewards")):
        wh.commit(lambda con: con.execute(change))
        result = dg.materialize(assets, resources=build_resources(str(settings_file)), raise_on_error=False,
                                selection=estimates)
        assert not result.success
        assert message in failure_message(result)
        pd.testing.assert_frame_equal(wh.query("SELECT * FROM cje.policy_estimates ORDER BY policy, estimator"), before)


def test_a_covariate_a_row_lacks_or_a_wrong_calibration_setting_is_refused_by_name(settings_file, tmp_path):
    """judge_variance as a covariate where one labelled row has none: the calibration step names
    that row and what to do, and the input tables before it stay; an unknown mode or covariate,
    and covariates with isotonic calibration, are refused naming the key."""
    rows = sample_rows(N)
    for r in rows:
        r["metadata"]["judge_variance"] = 0.01
    lacking = next(r for r in rows if r.get("oracle_label") is not None)
    del lacking["metadata"]["judge_variance"]
    path = write_logged(tmp_path / "logged.jsonl", rows)
    assets, checks = cje_assets()
    for calibration, message in (
            ({"covariates": ["judge_variance"]},
             f"covariate judge_variance is missing for 1 calibration labels (the first: prompt_id "
             f"{lacking['metadata']['prompt_id']}, policy base, source logged); give each row metadata.judge_variance"),
            ({"calibration_mode": "spline"}, "calibration_mode 'spline'; valid: isotonic, two_stage, auto"),
            ({"covariates": ["length"]}, "covariates ['length']; valid: response_length, judge_variance"),
            ({"calibration_mode": "isotonic", "covariates": ["response_length"]},
             "covariates need calibration_mode two_stage or auto")):
        result = dg.materialize([*assets, *checks], resources=build_resources(str(settings_file)), raise_on_error=False,
                                run_config={"ops": {"cje__logged_data": {"config": {
                                    "logged_data": str(path), "fresh_draws_dir": "", "probe_dir": "", "oracle_fraction": 1.0}},
                                    "cje__calibrated_rewards": {"config": calibration}}})
        assert result.get_step_failure_events()[0].step_key == "cje__calibrated_rewards"
        assert message in failure_message(result), calibration
        assert Warehouse().query("SELECT count(*) AS n FROM cje.judge_scores WHERE judge_variance = 0.01").n[0] > 0


def test_a_bootstrap_of_one_replicate_is_refused_by_name_and_the_estimates_stay(settings_file, tmp_path):
    """n_bootstrap 1 (no spread to read off one replicate): the bootstrap step names the key and
    the value, and cje.policy_estimates, written before it, is there."""
    path = write_logged(tmp_path / "logged.jsonl", sample_rows(N))
    assets, checks = cje_assets()
    result = dg.materialize([*assets, *checks], resources=build_resources(str(settings_file)), raise_on_error=False,
                            run_config={"ops": {"cje__logged_data": {"config": {"logged_data": str(path)}},
                                                "cje__direct_bootstrap": {"config": {"n_bootstrap": 1}}}})
    assert result.get_step_failure_events()[0].step_key == "cje__direct_bootstrap"
    assert "cje__direct_bootstrap.n_bootstrap is 0 (none) or at least 2; got 1" in failure_message(result)
    assert len(Warehouse().query("SELECT * FROM cje.policy_estimates")) > 0
