"""Judge -> oracle calibration, cross-fitted on the calibration labels by `calibration_mode`
(isotonic | two_stage | auto) with optional covariates (`response_length`: the response's words;
`judge_variance`: the uncertainty judge's variance of its score); analysis/cje_calibration.py.

cje.calibrated_rewards: every judged response (logged, fresh, probe) with its fold, its
out-of-fold reward, the reward of the model fitted on all labels, a flag for judge scores outside
the range the labels cover (there the calibration extrapolates), and `score_key`: which distinct
calibration input (judge score and covariates) it has.
cje.jackknife_rewards: the reward each of the K delete-one-fold models gives each distinct input
(for the oracle-uncertainty jackknife). A reward depends on those inputs alone, so this is K x
(distinct inputs) rows, not K per response (at 1M logged rows x 4 policies a list of K per row was
two thirds of the warehouse; with `response_length` as a covariate the inputs are nearly as many
as the responses).
cje.calibration_summary: label counts, the mode chosen and why (each candidate's out-of-fold
RMSE), Spearman and out-of-fold R^2 of judge vs oracle, the labelled judge range, and the
supported range (`support_*`: where the labels are dense enough to trust the fit, and the oracle
bounds beyond it).
cje.calibration_curve: the fitted map on a grid of judge scores (covariates at their labelled
median), and binned oracle means, for plots.
"""

from dataclasses import asdict

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.cje_calibration import MODES, Folds, distinct_rows, fit_calibration, spearman_and_r2
from assets.cje.config import COVARIATES, CalibrationConfig
from assets.core.tables import Written, table_step
from assets.lineage import MODEL, Query, reads
from resources.datasets import DatasetError
from resources.warehouse import Warehouse

WORDS = r"len(regexp_extract_all(r.response, '\S+'))"  # Python's str.split() count, ASCII whitespace
LABELS = Query("SELECT * FROM cje.calibration_labels ORDER BY prompt_id, policy, source, draw_idx")
LABELS_WITH_LENGTH = Query(f"""
    SELECT l.*, {WORDS} AS response_length
    FROM cje.calibration_labels AS l JOIN cje.responses AS r USING (prompt_id, policy, source, draw_idx)
    ORDER BY prompt_id, policy, source, draw_idx""")
JUDGED = Query("SELECT * FROM cje.judge_scores WHERE judge_score IS NOT NULL")
JUDGED_WITH_LENGTH = Query(f"""
    SELECT j.*, {WORDS} AS response_length
    FROM cje.judge_scores AS j JOIN cje.responses AS r USING (prompt_id, policy, source, draw_idx)
    WHERE j.judge_score IS NOT NULL""")


def inputs(columns: dict[str, np.ndarray], covariates: list[str], what: str) -> np.ndarray:
    """The calibration's features: the judge score, then each covariate, as columns; a row without
    a covariate's value is refused by name (its reward could not be computed)."""
    X = np.column_stack([np.asarray(columns[c], dtype=float) for c in ("judge_score", *covariates)])
    missing = np.isnan(X)
    if missing.any():
        row, column = np.argwhere(missing)[0]
        name = ("judge_score", *covariates)[column]
        raise DatasetError(
            f"covariate {name} is missing for {int(missing[:, column].sum())} {what} (the first: prompt_id "
            f"{columns['prompt_id'][row]}, policy {columns['policy'][row]}, source {columns['source'][row]}); "
            + ("give each row metadata.judge_variance (the uncertainty judge's variance of its score), "
               if name == "judge_variance" else "")
            + f"or leave {name} out of covariates")
    return X


@table_step(deps=reads(LABELS, LABELS_WITH_LENGTH, JUDGED, JUDGED_WITH_LENGTH), layer=MODEL)
def calibrated_rewards(context: dg.AssetExecutionContext, config: CalibrationConfig, warehouse: Warehouse) -> Written:
    """Calibrated rewards per judged row, the fold models' rewards per input, the fit's summary and curve."""
    if config.calibration_mode not in MODES:
        raise DatasetError(f"calibration_mode {config.calibration_mode!r}; valid: {', '.join(MODES)}")
    unknown = [c for c in config.covariates if c not in COVARIATES]
    if unknown:
        raise DatasetError(f"covariates {unknown}; valid: {', '.join(COVARIATES)}")
    if config.covariates and config.calibration_mode == "isotonic":
        raise DatasetError("covariates need calibration_mode two_stage or auto: isotonic regression is in the judge score alone")
    length = "response_length" in config.covariates
    labels = warehouse.query(LABELS_WITH_LENGTH if length else LABELS)
    folds_of = Folds.of_labels(labels.prompt_id, config.n_folds, config.fold_seed)
    folds = folds_of(labels.prompt_id)
    y = labels.oracle_label.to_numpy(float)
    X = inputs({c: labels[c].to_numpy() for c in labels.columns}, config.covariates, "calibration labels")
    cal = fit_calibration(X, y, folds, config.n_folds, config.fold_seed, config.calibration_mode)

    # Arrow, not pandas: at 1M logged rows x 4 policies this is 5M rows
    judged = warehouse.arrow(JUDGED_WITH_LENGTH if length else JUDGED)
    ids = judged["prompt_id"].combine_chunks().dictionary_encode()
    judged_folds = folds_of(ids.dictionary.to_numpy(zero_copy_only=False))[ids.indices.to_numpy()]
    columns = {c: judged[c].to_numpy() for c in ("judge_score", *config.covariates)}
    columns.update({c: judged[c].to_numpy() for c in ("prompt_id", "policy", "source")} if any(
        np.isnan(v).any() for v in columns.values()) else {})
    inputs_seen, keys = distinct_rows(inputs(columns, config.covariates, "judged responses"))
    replicates = cal.replicates(inputs_seen)  # (K, distinct inputs)
    scores, s = columns["judge_score"], X[:, 0]
    outside = (scores < s.min()) | (scores > s.max())
    if not length:
        judged = judged.append_column("response_length", pa.nulls(judged.num_rows, pa.int64()))
    rewards = (judged.append_column("fold", pa.array(judged_folds, pa.int64()))
               .append_column("score_key", pa.array(keys, pa.int64()))
               .append_column("reward", pa.array(replicates[judged_folds, keys]))
               .append_column("reward_full", pa.array(cal.predict(inputs_seen)[keys]))
               .append_column("outside_label_range", pa.array(outside)))
    jackknife = pd.DataFrame({"replicate": np.repeat(np.arange(config.n_folds), len(inputs_seen)),
                              "score_key": np.tile(np.arange(len(inputs_seen)), config.n_folds),
                              "judge_score": np.tile(inputs_seen[:, 0], config.n_folds), "reward": replicates.ravel()})
    rho, r2 = spearman_and_r2(s, y, cal.oof(X, folds))
    per_fold = np.bincount(folds, minlength=config.n_folds)
    summary = pd.DataFrame([{
        "n_labels": len(y), "n_folds": config.n_folds, "min_labels_per_fold": int(per_fold.min()),
        "calibration_mode": config.calibration_mode, "selected_mode": cal.mode,
        "covariates": ", ".join(config.covariates) or None,
        "rmse_isotonic": cal.oof_rmse.get("isotonic"), "rmse_two_stage": cal.oof_rmse.get("two_stage"),
        "spearman": rho, "r2_out_of_fold": r2, "judge_min_labelled": s.min(),
        "judge_max_labelled": s.max(), "oracle_min": y.min(), "oracle_max": y.max(),
        # where the labels are dense enough, and what bounds the truth beyond (CalibrationSupport)
        **{f"support_{k}": v for k, v in asdict(cal.support).items()},
        "n_outside_label_range": int(outside.sum()),
    }])
    grid = np.linspace(min(s.min(), scores.min()), max(s.max(), scores.max()), 101)
    at_median = np.column_stack([grid, *[np.full(len(grid), np.median(X[:, j])) for j in range(1, X.shape[1])]])
    bins = pd.qcut(s, q=min(10, len(np.unique(s))), duplicates="drop")
    binned = pd.DataFrame({"s": s, "y": y, "bin": bins}).groupby("bin", observed=True).agg(
        judge_score=("s", "mean"), oracle=("y", "mean"), n=("y", "size"))
    curve = pd.concat([
        pd.DataFrame({"kind": "fit", "judge_score": grid, "oracle": cal.predict(at_median), "n": None}),
        binned.assign(kind="bin")[["kind", "judge_score", "oracle", "n"]],
    ], ignore_index=True)

    return Written({"calibrated_rewards": rewards, "jackknife_rewards": jackknife, "calibration_summary": summary,
                    "calibration_curve": curve},
                   {"calibrated_rewards": {"n_folds": config.n_folds, "fold_seed": config.fold_seed,
                                           "calibration_mode": config.calibration_mode, "selected_mode": cal.mode,
                                           "spearman": float(rho), "r2_out_of_fold": float(r2)}})
