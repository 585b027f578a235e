"""Each policy's value by five estimators (ips, snips, cal_ips, dr, direct; see
analysis/cje_estimators.py), with SEs that include the oracle-calibration uncertainty, 95% CIs
widened by what the labels cannot say (`extrapolated_share` of the mass beyond the supported judge
range, `bound_below`, `bound_above`; no point estimate, with the reason, where that is most of
it), and
the oracle truth where the data has it (logged labels for the base, probe slices for the targets).

cje.policy_estimates, plus what the SQL pairwise tests need: cje.paired_influence (per estimator
and pair of policies, the influence-function variance of their difference, paired by prompt: a
row per prompt would be 18M rows at 1M prompts x 4 policies) and cje.oracle_jackknife (one row per
fold replicate).
"""

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.cje_support import CalibrationSupport
from analysis.cje_estimators import ESTIMATORS, PolicyData, estimate_policy, paired_influence
from analysis.cje_intervals import Estimate
from assets.core.tables import Written, table_step
from assets.lineage import MODEL, RESULT, Query, reads
from resources.warehouse import Warehouse

LOGGED = Query("""
    SELECT w.*, r.score_key
    FROM cje.weighted_rewards AS w
    JOIN cje.calibrated_rewards AS r ON r.prompt_id = w.prompt_id AND r.policy = 'base' AND r.source = 'logged'
    ORDER BY w.policy, w.prompt_id""")
# a fresh draw's own oracle label, for the augmented direct estimate: not where oracle_fraction
# held the base's label of that prompt out (split validation), which stays held out everywhere
FRESH = Query("""
    WITH held_out AS (SELECT prompt_id FROM cje.oracle_labels WHERE split = 'validation')
    SELECT r.policy, r.prompt_id, r.judge_score, r.judge_variance, r.response_length, r.fold, r.score_key,
           r.reward, r.reward_full,
           CASE WHEN r.policy <> 'base' OR r.prompt_id NOT IN (SELECT prompt_id FROM held_out)
                THEN o.oracle_label END AS oracle_label
    FROM cje.calibrated_rewards AS r
    LEFT JOIN cje.oracle_labels AS o
      ON o.prompt_id = r.prompt_id AND o.policy = r.policy AND o.source = 'fresh' AND o.draw_idx = r.draw_idx
    WHERE r.source = 'fresh'
    ORDER BY r.policy, r.prompt_id, r.draw_idx
""")
TRUTH = Query("SELECT policy, oracle_truth, n_truth FROM cje.oracle_truth")
POLICIES = Query("SELECT policy FROM cje.policies ORDER BY NOT is_base, policy")
CALIBRATION = Query("SELECT * FROM cje.calibration_summary")
JACKKNIFE = Query("SELECT replicate, score_key, reward FROM cje.jackknife_rewards ORDER BY replicate, score_key")


def _of_policy(table: pa.Table, policy: str, jackknife: np.ndarray) -> dict[str, np.ndarray]:
    """One policy's rows (contiguous: the queries order by policy) as numpy columns, and "reps":
    each row's reward under each delete-one-fold calibrator, (K, n), looked up by its score_key in
    `jackknife` (replicate x score_key)."""
    at = np.flatnonzero(pc.equal(table["policy"], policy).to_numpy(zero_copy_only=False))
    rows = table.slice(at[0], len(at)) if len(at) else table.slice(0, 0)
    columns = {name: rows[name].to_numpy() for name in rows.column_names if name != "policy"}
    keys = columns["score_key"]
    if len(keys) and (np.isnan(jackknife[:, keys]).any() if keys.max() < jackknife.shape[1] else True):
        raise RuntimeError(f"{JACKKNIFE.table} lacks calibration inputs of cje.calibrated_rewards: "
                           "materialize cje.calibrated_rewards again")
    return {**columns, "reps": jackknife[:, keys]}


def _keyed(logged: pa.Table, fresh: pa.Table) -> tuple[pa.Table, pa.Table, pa.Array]:
    """Both tables with prompt_id as an integer key (one dictionary for both), and the dictionary:
    the estimators hash and match prompts, and as Python strings 1M ids a policy took seconds."""
    ids = pa.concat_arrays([logged["prompt_id"].combine_chunks(), fresh["prompt_id"].combine_chunks()])
    ids = ids.dictionary_encode()
    keyed = [table.set_column(table.schema.get_field_index("prompt_id"), "prompt_id", keys)
             for table, keys in ((logged, ids.indices.slice(0, logged.num_rows)),
                                 (fresh, ids.indices.slice(logged.num_rows)))]
    return keyed[0], keyed[1], ids.dictionary


def paired_variances(estimates: dict[tuple[str, str], Estimate]) -> pd.DataFrame:
    """`cje.paired_influence`: each pair of policies (a < b) with an estimate by the same estimator."""
    rows = []
    for (estimator, a), ea in estimates.items():
        for (other, b), eb in estimates.items():
            if other == estimator and a < b:
                n, var = paired_influence(ea, eb)
                rows.append({"estimator": estimator, "policy_a": a, "policy_b": b, "n": n,
                             "var_if": var if np.isfinite(var) else None})
    return pd.DataFrame(rows, columns=["estimator", "policy_a", "policy_b", "n", "var_if"]).astype({"n": "int64", "var_if": float})


@table_step(deps=reads(LOGGED, FRESH, TRUTH, POLICIES, CALIBRATION, JACKKNIFE), layer=MODEL,
            layer_of={"policy_estimates": RESULT})
def policy_estimates(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Written:
    """Every estimator's value per policy, the pairs' influence variances, the oracle jackknife."""
    if not warehouse.table_exists(JACKKNIFE.table):  # a warehouse from before the table
        raise RuntimeError(f"{JACKKNIFE.table} is missing: materialize cje.calibrated_rewards (step "
                           "cje__calibrated_rewards) again, then the estimates")
    logged, fresh, prompt_names = _keyed(warehouse.arrow(LOGGED), warehouse.arrow(FRESH))
    truth = warehouse.query(TRUTH).set_index("policy")
    policies = warehouse.query(POLICIES).policy
    calibration = warehouse.query(CALIBRATION).iloc[0]
    folds = int(calibration.n_folds)
    rows = warehouse.query(JACKKNIFE)
    replicates = np.full((folds, int(rows.score_key.max()) + 1 if len(rows) else 0), np.nan)
    replicates[rows.replicate.to_numpy(int), rows.score_key.to_numpy(int)] = rows.reward.to_numpy(float)
    support = CalibrationSupport(**{f.name: (int if f.name == "tail_labels" else float)(calibration[f"support_{f.name}"])
                                    for f in fields(CalibrationSupport)})

    def estimates_of(policy: str) -> dict[str, Estimate]:
        lg, fr = _of_policy(logged, policy, replicates), _of_policy(fresh, policy, replicates)
        return estimate_policy(PolicyData(
            prompt_ids=lg["prompt_id"], weights=lg["weight"], scores=lg["judge_score"], rewards=lg["reward"],
            reward_reps=lg["reps"], folds=lg["fold"].astype(int), fresh_prompt_ids=fr["prompt_id"],
            fresh_scores=fr["judge_score"], fresh_rewards=fr["reward"], fresh_reward_reps=fr["reps"],
            fresh_folds=fr["fold"].astype(int), fresh_rewards_full=fr["reward_full"],
            fresh_labels=fr["oracle_label"].astype(float), n_folds=folds, support=support, prompt_names=prompt_names))

    rows, given, jackknife = [], {}, []
    # policies in parallel: numpy lets go of the GIL for most of the work
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        by_policy = list(zip(policies, pool.map(estimates_of, policies)))
    for policy, estimates in by_policy:
        t = truth.oracle_truth.get(policy, np.nan)
        for name, e in estimates.items():
            rows.append({
                "policy": policy, "estimator": name, "v_hat": e.v_hat, "se": e.se, "se_if": e.se_if,
                "se_oracle": e.se_oracle, "df": e.df, "ci_low": e.ci_low, "ci_high": e.ci_high, "n": e.n,
                "oracle_truth": t, "n_truth": truth.n_truth.get(policy, 0),
                "absolute_error": abs(e.v_hat - t) if np.isfinite(t) else np.nan,
                "covered": bool(e.ci_low <= t <= e.ci_high) if np.isfinite(t) and np.isfinite(e.ci_low) else None,
                "extrapolated_share": e.extrapolated_share, "bound_below": e.bound_below,
                "bound_above": e.bound_above, "route": e.route, "own_labels": e.own_labels,
                "se_labelled": e.se_labelled, "reason": e.reason,
            })
            if e.reason is None:
                given[(name, policy)] = e
                jackknife.append(pd.DataFrame({"policy": policy, "estimator": name,
                                               "fold": np.arange(len(e.jackknife)), "v_hat": e.jackknife}))
            else:
                context.log.warning(f"{policy} / {name}: no estimate: {e.reason}")
    estimates = pd.DataFrame(rows)
    estimates["estimator"] = pd.Categorical(estimates.estimator, categories=ESTIMATORS)
    return Written({"policy_estimates": estimates.sort_values(["estimator", "policy"]).astype({"estimator": str}),
                    "paired_influence": paired_variances(given),
                    "oracle_jackknife": pd.concat(jackknife, ignore_index=True)})
