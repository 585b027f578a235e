"""Judge -> oracle calibration: cross-fitted isotonic regression on the calibration labels.

cje.calibrated_rewards: every judged response (logged, fresh, probe) with its fold, the
out-of-fold reward, the reward of the model fitted on all labels, and a flag for judge scores
outside the range the labels cover (there the calibration extrapolates).
cje.jackknife_rewards: the reward each of the K delete-one-fold models gives each judge score
seen (for the oracle-uncertainty jackknife). A reward depends on the judge score alone, so this
is K x (distinct scores) rows, not K per response (at 1M logged rows x 4 policies a list of K per
row was two thirds of the warehouse).
cje.calibration_summary: label counts, Spearman and out-of-fold R^2 of judge vs oracle, the
labelled judge range, and the supported range (`support_*`: where the labels are dense enough to
trust the fit, and the oracle bounds beyond it; analysis/cje_calibration.py).
cje.calibration_curve: the fitted map on a grid, and binned oracle means, for plots.
"""

from dataclasses import asdict

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.cje_calibration import ScoreGrid, fit_calibration, folds_of, spearman_and_r2
from assets.cje.config import CalibrationConfig
from assets.core.tables import Written, table_step
from assets.lineage import MODEL, Query, reads
from resources.warehouse import Warehouse

LABELS = Query("SELECT prompt_id, judge_score, oracle_label FROM cje.calibration_labels")
JUDGED = Query("SELECT * FROM cje.judge_scores WHERE judge_score IS NOT NULL")


@table_step(deps=reads(LABELS, JUDGED), layer=MODEL)
def calibrated_rewards(context: dg.AssetExecutionContext, config: CalibrationConfig, warehouse: Warehouse) -> Written:
    """Calibrated rewards per judged row, the fold models' rewards per score, the fit's summary and curve."""
    labels = warehouse.query(LABELS)
    folds = folds_of(labels.prompt_id, config.n_folds, config.fold_seed)
    s, y = labels.judge_score.to_numpy(float), labels.oracle_label.to_numpy(float)
    cal = fit_calibration(s, y, folds, config.n_folds, config.fold_seed)

    # Arrow, not pandas: at 1M logged rows x 4 policies this is 5M rows
    judged = warehouse.arrow(JUDGED)
    ids = judged["prompt_id"].combine_chunks().dictionary_encode()
    judged_folds = folds_of(ids.dictionary.to_numpy(zero_copy_only=False), config.n_folds,
                            config.fold_seed)[ids.indices.to_numpy()]
    scores = judged["judge_score"].to_numpy()
    scored = ScoreGrid.of(scores)
    replicates = np.stack([m.predict(scored.values) for m in cal.fold_models])  # (K, distinct scores)
    outside = (scores < s.min()) | (scores > s.max())
    rewards = (judged.append_column("fold", pa.array(judged_folds, pa.int64()))
               .append_column("reward", pa.array(replicates[judged_folds, scored.codes]))
               .append_column("reward_full", pa.array(scored.predict(cal.full_model)))
               .append_column("outside_label_range", pa.array(outside)))
    jackknife = pd.DataFrame({"replicate": np.repeat(np.arange(config.n_folds), len(scored.values)),
                              "judge_score": np.tile(scored.values, config.n_folds), "reward": replicates.ravel()})
    rho, r2 = spearman_and_r2(s, y, cal.oof(s, folds))
    per_fold = np.bincount(folds, minlength=config.n_folds)
    summary = pd.DataFrame([{
        "n_labels": len(y), "n_folds": config.n_folds, "min_labels_per_fold": int(per_fold.min()),
        "spearman": rho, "r2_out_of_fold": r2, "judge_min_labelled": s.min(),
        "judge_max_labelled": s.max(), "oracle_min": y.min(), "oracle_max": y.max(),
        # where the labels are dense enough, and what bounds the truth beyond (CalibrationSupport)
        **{f"support_{k}": v for k, v in asdict(cal.support).items()},
        "n_outside_label_range": int(outside.sum()),
    }])
    grid = np.linspace(min(s.min(), scores.min()), max(s.max(), scores.max()), 101)
    bins = pd.qcut(s, q=min(10, len(np.unique(s))), duplicates="drop")
    binned = pd.DataFrame({"s": s, "y": y, "bin": bins}).groupby("bin", observed=True).agg(
        judge_score=("s", "mean"), oracle=("y", "mean"), n=("y", "size"))
    curve = pd.concat([
        pd.DataFrame({"kind": "fit", "judge_score": grid, "oracle": cal.full_model.predict(grid), "n": None}),
        binned.assign(kind="bin")[["kind", "judge_score", "oracle", "n"]],
    ], ignore_index=True)

    return Written({"calibrated_rewards": rewards, "jackknife_rewards": jackknife, "calibration_summary": summary,
                    "calibration_curve": curve},
                   {"calibrated_rewards": {"n_folds": config.n_folds, "fold_seed": config.fold_seed,
                                           "spearman": float(rho), "r2_out_of_fold": float(r2)}})
