"""Each policy's value by five estimators (ips, snips, cal_ips, dr, direct; see
analysis/cje_estimators.py), with SEs that include the oracle-calibration uncertainty, 95% CIs
widened by what the labels cannot say (`extrapolated_share` of the mass beyond the supported judge
range, `bound_below`, `bound_above`; no point estimate, with the reason, where that is most of
it), and
the oracle truth where the data has it (logged labels for the base, probe slices for the targets).

cje.policy_estimates, plus what the SQL pairwise tests need: cje.influence_functions (one
row per policy, estimator and prompt) and cje.oracle_jackknife (one row per fold replicate).
"""

from dataclasses import fields

import dagster as dg
import numpy as np
import pandas as pd

from analysis.cje_calibration import CalibrationSupport
from analysis.cje_estimators import ESTIMATORS, PolicyData, estimate_policy
from assets.lineage import MODEL, RESULT, Query, reads
from resources.warehouse import Warehouse

LOGGED = Query("""
    SELECT w.policy, w.prompt_id, w.weight, r.judge_score, r.fold, r.reward, r.reward_jackknife
    FROM cje.importance_weights AS w
    JOIN cje.calibrated_rewards AS r
      ON r.prompt_id = w.prompt_id AND r.policy = 'base' AND r.source = 'logged'
    WHERE w.problem IS NULL
    ORDER BY w.policy, w.prompt_id
""")
FRESH = Query("""
    SELECT policy, prompt_id, judge_score, fold, reward, reward_jackknife
    FROM cje.calibrated_rewards
    WHERE source = 'fresh'
    ORDER BY policy, prompt_id, draw_idx
""")
TRUTH = Query("""
    -- the base: every logged oracle label; a target: its probe slice
    SELECT policy, avg(oracle_label) AS oracle_truth, count(*) AS n_truth
    FROM cje.oracle_labels
    WHERE (policy = 'base' AND source = 'logged') OR source = 'probe'
    GROUP BY policy
""")
POLICIES = Query("SELECT policy FROM cje.policies ORDER BY NOT is_base, policy")
CALIBRATION = Query("SELECT * FROM cje.calibration_summary")


def _reps(column: pd.Series, n_folds: int) -> np.ndarray:
    return np.stack(column.to_list(), axis=1) if len(column) else np.zeros((n_folds, 0))


@dg.multi_asset(
    specs=[
        dg.AssetSpec(["cje", name], group_name="cje", kinds={"duckdb", "python"}, tags=layer,
                     deps=reads(LOGGED, FRESH, TRUTH, POLICIES, CALIBRATION))
        for name, layer in (("policy_estimates", RESULT), ("influence_functions", MODEL), ("oracle_jackknife", MODEL))
    ],
    name="cje__policy_estimates",
    description=__doc__,
)
def policy_estimates(context: dg.AssetExecutionContext, warehouse: Warehouse):
    logged, fresh = warehouse.query(LOGGED), warehouse.query(FRESH)
    truth = warehouse.query(TRUTH).set_index("policy")
    policies = warehouse.query(POLICIES).policy
    calibration = warehouse.query(CALIBRATION).iloc[0]
    folds = int(calibration.n_folds)
    support = CalibrationSupport(**{f.name: (int if f.name == "tail_labels" else float)(calibration[f"support_{f.name}"])
                                    for f in fields(CalibrationSupport)})
    rows, influence, jackknife = [], [], []
    for policy in policies:
        lg, fr = logged[logged.policy == policy], fresh[fresh.policy == policy]
        data = PolicyData(
            prompt_ids=lg.prompt_id.to_numpy(object), weights=lg.weight.to_numpy(float),
            scores=lg.judge_score.to_numpy(float), rewards=lg.reward.to_numpy(float),
            reward_reps=_reps(lg.reward_jackknife, folds),
            fresh_prompt_ids=fr.prompt_id.to_numpy(object), fresh_scores=fr.judge_score.to_numpy(float),
            fresh_rewards=fr.reward.to_numpy(float), fresh_reward_reps=_reps(fr.reward_jackknife, folds),
            n_folds=folds, support=support, folds=lg.fold.to_numpy(int), fresh_folds=fr.fold.to_numpy(int))
        t = truth.oracle_truth.get(policy, np.nan)
        for name, e in estimate_policy(data).items():
            rows.append({
                "policy": policy, "estimator": name, "v_hat": e.v_hat, "se": e.se, "se_if": e.se_if,
                "se_oracle": e.se_oracle, "df": e.df, "ci_low": e.ci_low, "ci_high": e.ci_high, "n": e.n,
                "oracle_truth": t, "n_truth": truth.n_truth.get(policy, 0),
                "absolute_error": abs(e.v_hat - t) if np.isfinite(t) else np.nan,
                "covered": bool(e.ci_low <= t <= e.ci_high) if np.isfinite(t) and np.isfinite(e.ci_low) else None,
                "extrapolated_share": e.extrapolated_share, "bound_below": e.bound_below,
                "bound_above": e.bound_above, "reason": e.reason,
            })
            if e.reason is None:
                influence.append(pd.DataFrame({"policy": policy, "estimator": name,
                                               "prompt_id": e.prompt_ids.astype(str), "influence": e.influence}))
                jackknife.append(pd.DataFrame({"policy": policy, "estimator": name,
                                               "fold": np.arange(len(e.jackknife)), "v_hat": e.jackknife}))
            else:
                context.log.warning(f"{policy} / {name}: no estimate: {e.reason}")
    estimates = pd.DataFrame(rows)
    estimates["estimator"] = pd.Categorical(estimates.estimator, categories=ESTIMATORS)
    tables = {"policy_estimates": estimates.sort_values(["estimator", "policy"]).astype({"estimator": str}),
              "influence_functions": pd.concat(influence, ignore_index=True),
              "oracle_jackknife": pd.concat(jackknife, ignore_index=True)}
    counts = warehouse.write_tables({f"cje.{name}": frame for name, frame in tables.items()}, context=context)
    for name in tables:
        yield dg.MaterializeResult(asset_key=["cje", name], metadata={"dagster/row_count": counts[f"cje.{name}"]})
