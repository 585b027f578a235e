"""Direct mode against cje-eval 0.9.3 in its own venv: the calibrator fit for fit (isotonic,
two_stage with and without covariates, weighted, auto's choice), the direct estimates, SEs and
degrees of freedom on the bundled sample (the augmented route for the base, whose draws carry labels),
and the refit bootstrap's SEs; two_stage with response length beats isotonic on a judge biased by
length, out of fold and on held-out prompts, and auto chooses it in a materialized run."""

import json

import numpy as np
import pandas as pd
import pytest

from analysis.cje_bootstrap import Draws, bootstrap_direct
from analysis.cje_calibration import Folds, fit_calibration
from tests.cje.conftest import SAMPLE, run_09, write_logged

ESTIMATES_09 = """
import json, logging, sys, warnings
warnings.simplefilter("ignore"); logging.disable(logging.WARNING)
from cje import analyze_dataset
r = analyze_dataset(fresh_draws_dir=sys.argv[1])
point = r.metadata["point_estimator"]
print(json.dumps({"mode": r.metadata["calibration_info"]["selected_mode"], "policies": {
    p: {"v": float(v), "se": float(se), "df": r.metadata["degrees_of_freedom"][p]["df"], "route": route,
        "plug_in": plug, "ci": [float(x) for x in r.ci()[i]]}
    for i, (p, v, se, route, plug) in enumerate(zip(r.metadata["target_policies"], r.estimates, r.standard_errors,
                                                    point["routes"], point["plug_in_estimates"]))}}))
"""


def test_direct_estimates_equal_cje_eval_0_9s_on_the_bundled_sample(sample_warehouse):
    """Same labels (the base's 480), same folds, auto choosing two_stage as 0.9.3 does: every direct
    estimate, SE and df equal 0.9.3's to 1e-9 (the acceptance asks 0.002). unhelpful's point is
    withheld here (84% of its scores lie beyond the supported labels), so its calibrated mean is
    compared as SQL over cje.calibrated_rewards; our intervals differ from 0.9.3's (they widen by the
    support bound where labels are thin, 0.9.3's do not) and equal them where no mass is beyond."""
    theirs = run_09(ESTIMATES_09, str(SAMPLE / "fresh_draws"))
    wh, _ = sample_warehouse
    assert wh.query("SELECT selected_mode FROM cje.calibration_summary").selected_mode[0] == theirs["mode"] == "two_stage"
    ours = wh.query("SELECT * FROM cje.policy_estimates WHERE estimator = 'direct'").set_index("policy")
    plug_in = wh.query("""SELECT policy, avg(reward_full) AS v FROM cje.calibrated_rewards
                          WHERE source = 'fresh' GROUP BY policy""").set_index("policy").v
    assert set(ours.index) == set(theirs["policies"])
    for policy, t in theirs["policies"].items():
        row = ours.loc[policy]
        assert row.route == t["route"] and plug_in[policy] == pytest.approx(t["plug_in"], abs=1e-9), policy
        if policy == "unhelpful":
            assert np.isnan(row.v_hat) and "too few labels" in row.reason
        else:
            assert row.v_hat == pytest.approx(t["v"], abs=1e-9), policy
            if row.extrapolated_share == 0:
                assert [row.ci_low, row.ci_high] == pytest.approx(t["ci"], abs=1e-9), policy
            else:  # Imbens-Manski about the bounded interval
                assert row.ci_low < row.v_hat - row.bound_below and row.ci_high > row.v_hat + row.bound_above
        assert row.se == pytest.approx(t["se"], rel=1e-9) and row.df == pytest.approx(t["df"], rel=1e-9), policy
    assert ours.loc["base", "own_labels"] == 480 and ours.loc["base", "df"] == 479  # n_L - 1 labelled clusters


FITS_09 = """
import json, logging, sys, warnings
import numpy as np
warnings.simplefilter("ignore"); logging.disable(logging.WARNING)
from cje.calibration.judge import JudgeCalibrator
spec = json.load(sys.stdin)
S, Y, ids = np.array(spec["S"]), np.array(spec["Y"]), spec["ids"]
cov = np.array(spec["cov"])[:, None] if spec["cov"] else None
w = np.array(spec["w"]) if spec["w"] else None
j = JudgeCalibrator(calibration_mode=spec["mode"], covariate_names=["response_length"] if spec["cov"] else None)
r = j.fit_cv(S, Y, n_folds=5, prompt_ids=ids, covariates=cov, sample_weight=w, quiet=True)
grid = np.array(spec["grid_S"]); grid_cov = np.array(spec["grid_cov"])[:, None] if spec["cov"] else None
print(json.dumps({"full": j.predict(grid, covariates=grid_cov).tolist(),
                  "oof": j.predict_oof(S, r.fold_ids, cov).tolist(), "folds": [int(f) for f in r.fold_ids],
                  "mode": j._flexible_calibrator.selected_mode if j._flexible_calibrator else spec["mode"]}))
"""


def length_biased_judge(n: int, seed: int):
    """A judge that scores long answers up: S = quality + 0.35 (length - 0.5) on a 0-1 length
    scale, plus noise; the oracle is Bernoulli(quality). At a fixed S a long answer is worse."""
    rng = np.random.default_rng(seed)
    quality = rng.uniform(0.05, 0.95, n)
    words = rng.integers(5, 400, n)
    s = np.round(np.clip(quality + 0.35 * (words / 400 - 0.5) + rng.normal(0, 0.05, n), 0, 1), 2)
    return s, words.astype(float), (rng.random(n) < quality).astype(float), quality


@pytest.mark.parametrize("mode,covariate,weighted", [("isotonic", False, False), ("two_stage", False, False),
                                                     ("two_stage", True, False), ("auto", False, True),
                                                     ("two_stage", True, True)])
def test_the_calibrator_is_cje_eval_0_9s_fit_for_fit(mode, covariate, weighted):
    s, words, y, _ = length_biased_judge(300, seed=1)
    ids = [f"p{i}" for i in range(len(s))]
    w = np.random.default_rng(2).exponential(size=len(s)) if weighted else None
    grid_s, grid_words = np.linspace(-0.1, 1.1, 61), np.linspace(0, 450, 61)
    theirs = run_09(FITS_09, stdin=json.dumps({
        "S": s.tolist(), "Y": y.tolist(), "ids": ids, "cov": words.tolist() if covariate else None,
        "w": None if w is None else w.tolist(), "mode": "monotone" if mode == "isotonic" else mode,
        "grid_S": grid_s.tolist(), "grid_cov": grid_words.tolist()}))
    folds = Folds.of_labels(ids)(ids)
    X = np.column_stack([s, words]) if covariate else s
    cal = fit_calibration(X, y, folds, 5, mode=mode, weights=w)
    assert folds.tolist() == theirs["folds"]
    assert cal.mode == ("isotonic" if theirs["mode"] == "monotone" else theirs["mode"])
    grid = np.column_stack([grid_s, grid_words]) if covariate else grid_s
    np.testing.assert_allclose(cal.predict(grid), theirs["full"], atol=1e-9)
    np.testing.assert_allclose(cal.oof(X, folds), theirs["oof"], atol=1e-9)


def test_two_stage_with_length_beats_isotonic_where_the_judge_favours_length_and_auto_chooses_it(settings_file, tmp_path):
    """On 1,500 labelled rows of a length-biased judge: out of fold and against the true quality of
    1,500 held-out prompts, two_stage with response_length has the lower error; in a
    materialized run on files whose responses have those lengths (counted in SQL), auto chooses
    two_stage and cje.calibration_summary says why."""
    s, words, y, _ = length_biased_judge(1500, seed=3)
    ids = [f"p{i}" for i in range(len(s))]
    folds = Folds.of_labels(ids)(ids)
    isotonic = fit_calibration(s, y, folds, 5, mode="isotonic")
    two_stage = fit_calibration(np.column_stack([s, words]), y, folds, 5, mode="two_stage")
    assert two_stage.oof_rmse["two_stage"] < isotonic.oof_rmse["isotonic"]
    s_new, words_new, _, quality = length_biased_judge(1500, seed=4)
    error_isotonic = np.sqrt(np.mean((isotonic.predict(s_new) - quality) ** 2))
    error_two_stage = np.sqrt(np.mean((two_stage.predict(np.column_stack([s_new, words_new])) - quality) ** 2))
    print(f"held-out RMSE against quality: isotonic {error_isotonic:.4f}, two_stage {error_two_stage:.4f}")
    assert error_two_stage < 0.9 * error_isotonic

    rows = [{"prompt": f"q{i}", "response": " ".join(["word"] * int(n)), "base_policy_logprob": -10.0,
             "target_policy_logprobs": {"other": -10.0}, "judge_score": float(j), "oracle_label": float(label),
             "metadata": {"prompt_id": f"p{i}"}} for i, (n, j, label) in enumerate(zip(words, s, y))]
    logged = write_logged(tmp_path / "logged.jsonl", rows)
    import dagster as dg

    from resources import build_resources
    from resources.warehouse import Warehouse
    from tests.cje.conftest import cje_assets

    assets, checks = cje_assets()
    result = dg.materialize([*assets, *checks], resources=build_resources(str(settings_file)), run_config={"ops": {
        "cje__logged_data": {"config": {"logged_data": str(logged), "fresh_draws_dir": "", "probe_dir": "",
                                        "oracle_fraction": 1.0}},
        "cje__calibrated_rewards": {"config": {"covariates": ["response_length"]}},
        "cje__direct_bootstrap": {"config": {"n_bootstrap": 0}}}})
    assert result.success
    summary = Warehouse().query("SELECT * FROM cje.calibration_summary").iloc[0]
    assert summary.selected_mode == "two_stage" and summary.covariates == "response_length"
    assert summary.rmse_two_stage < summary.rmse_isotonic
    assert Warehouse().query("SELECT max(response_length) AS m FROM cje.calibrated_rewards").m[0] == words.max()


BOOTSTRAP_09 = """
import json, logging, sys, warnings
warnings.simplefilter("ignore"); logging.disable(logging.WARNING)
from cje import analyze_dataset
r = analyze_dataset(fresh_draws_dir=sys.argv[1], estimator_config={"inference_method": "bootstrap", "n_bootstrap": 400})
print(json.dumps(dict(zip(r.metadata["target_policies"], map(float, r.standard_errors)))))
"""


@pytest.mark.slow
def test_the_refit_bootstrap_agrees_with_cje_eval_0_9s(sample_warehouse):
    """400 replicates each on the bundled sample (auto re-chosen in every refit): the SEs agree
    within 20% (the Monte Carlo error of each is about 3.5%); the table's are 200 replicates'."""
    theirs = run_09(BOOTSTRAP_09, str(SAMPLE / "fresh_draws"))
    wh, _ = sample_warehouse
    labels = wh.query("""SELECT l.prompt_id, l.judge_score, l.oracle_label, r.fold FROM cje.calibration_labels AS l
                         JOIN cje.calibrated_rewards AS r USING (prompt_id, policy, source, draw_idx)""")
    fresh = wh.query("""SELECT r.policy, r.prompt_id, r.judge_score, r.fold, o.oracle_label
                        FROM cje.calibrated_rewards AS r LEFT JOIN cje.oracle_labels AS o
                          ON o.prompt_id = r.prompt_id AND o.policy = r.policy AND o.source = 'fresh'
                        WHERE r.source = 'fresh' ORDER BY r.policy, r.prompt_id""")
    draws = {p: Draws(g.judge_score.to_numpy(float), g.prompt_id.to_numpy(object), g.fold.to_numpy(int),
                      g.oracle_label.to_numpy(float)) for p, g in fresh.groupby("policy")}
    ours = bootstrap_direct(labels.judge_score.to_numpy(float), labels.oracle_label.to_numpy(float),
                            labels.prompt_id.to_numpy(object), labels.fold.to_numpy(int), draws, "auto", 5, 400, 7)
    se = ours.summary().set_index("policy").se
    table = wh.query("SELECT * FROM cje.direct_bootstrap").set_index("policy")
    print({p: (round(se[p], 5), round(t, 5), round(table.se[p], 5)) for p, t in theirs.items()})
    for policy, t in theirs.items():
        assert se[policy] == pytest.approx(t, rel=0.2) and table.se[policy] == pytest.approx(t, rel=0.3), policy
        assert table.n_bootstrap[policy] == 200 and table.ci_low[policy] < table.ci_high[policy]


FOLD_MODELS_09 = """
import json, logging, sys, warnings
import numpy as np
warnings.simplefilter("ignore"); logging.disable(logging.WARNING)
from cje.calibration.judge import JudgeCalibrator
spec = json.load(sys.stdin)
j = JudgeCalibrator(calibration_mode="auto")
r = j.fit_cv(np.array(spec["S"]), np.array(spec["Y"]), n_folds=5, prompt_ids=spec["ids"], quiet=True)
scores = np.array(spec["scores"])
print(json.dumps([j.predict_oof(scores, np.full(len(scores), k)).tolist() for k in range(5)]))
"""


def test_jackknife_rewards_equal_cje_eval_0_9s_fold_models(sample_warehouse):
    """Each delete-one-fold reward is cje-eval 0.9.3's fold model (its JudgeCalibrator fitted on the
    same calibration labels, auto mode) at that input; a response's out-of-fold reward is its own
    fold's; ips's jackknife replicates are the weighted means of those rewards, direct's the means
    over prompts of the draws' plus, for the base (its draws carry labels), the labelled draws' mean
    residual under the same fold model (joined in SQL, not looked up as the estimator does)."""
    wh, _ = sample_warehouse
    labels = wh.query("SELECT prompt_id, judge_score, oracle_label FROM cje.calibration_labels")
    jackknife = wh.query("SELECT * FROM cje.jackknife_rewards ORDER BY replicate, score_key")
    assert sorted(jackknife.replicate.unique()) == [0, 1, 2, 3, 4]
    scores = jackknife[jackknife.replicate == 0].judge_score.tolist()
    theirs = run_09(FOLD_MODELS_09, stdin=json.dumps({"S": labels.judge_score.tolist(), "Y": labels.oracle_label.tolist(),
                                                      "ids": labels.prompt_id.tolist(), "scores": scores}))
    for k, g in jackknife.groupby("replicate"):
        np.testing.assert_allclose(g.reward, theirs[k], rtol=0, atol=1e-12)
    own = wh.query("""SELECT count(*) AS n, count(*) FILTER (WHERE j.reward IS DISTINCT FROM r.reward) AS wrong
                      FROM cje.calibrated_rewards AS r
                      LEFT JOIN cje.jackknife_rewards AS j ON j.replicate = r.fold AND j.score_key = r.score_key""")
    assert own.wrong[0] == 0 and own.n[0] == wh.query("SELECT count(*) AS n FROM cje.judge_scores WHERE judge_score IS NOT NULL").n[0]
    ips = wh.query("""SELECT w.policy, j.replicate AS fold, avg(w.weight * j.reward) AS v_hat
                      FROM cje.importance_weights AS w
                      JOIN cje.calibrated_rewards AS r ON r.prompt_id = w.prompt_id AND r.policy = 'base' AND r.source = 'logged'
                      JOIN cje.jackknife_rewards AS j USING (score_key)
                      WHERE w.problem IS NULL GROUP BY ALL""").set_index(["policy", "fold"]).v_hat
    direct = wh.query("""WITH draws AS (
                             SELECT r.policy, j.replicate AS fold, r.prompt_id, j.reward, o.oracle_label AS y
                             FROM cje.calibrated_rewards AS r JOIN cje.jackknife_rewards AS j USING (score_key)
                             LEFT JOIN cje.oracle_labels AS o ON o.prompt_id = r.prompt_id AND o.policy = r.policy
                                  AND o.source = 'fresh' AND o.draw_idx = r.draw_idx
                             WHERE r.source = 'fresh'),
                         per_prompt AS (SELECT policy, fold, prompt_id, avg(reward) AS g FROM draws GROUP BY ALL),
                         residual AS (SELECT policy, fold, coalesce(avg(y - reward), 0) AS c FROM draws GROUP BY ALL)
                         SELECT policy, fold, avg(g) + any_value(c) AS v_hat
                         FROM per_prompt JOIN residual USING (policy, fold) GROUP BY ALL""").set_index(["policy", "fold"]).v_hat
    given = wh.query("SELECT estimator, policy FROM cje.policy_estimates WHERE reason IS NULL")
    for name, expected in (("ips", ips), ("direct", direct)):
        ours = wh.query(f"SELECT policy, fold, v_hat FROM cje.oracle_jackknife WHERE estimator = '{name}'").set_index(["policy", "fold"]).v_hat
        # a replicate per fold for every policy the estimator gives an estimate for (ips: the base
        # alone here, the targets' weights cannot carry one; direct: base, clone, parallel_universe_prompt)
        assert set(ours.index.get_level_values(0)) == set(given[given.estimator == name].policy)
        assert len(ours) == 5 * (given.estimator == name).sum() >= 5
        pd.testing.assert_series_equal(ours.sort_index(), expected.reindex(ours.index).sort_index(),
                                       check_exact=False, rtol=1e-12)
