"""The direct estimates' cluster bootstrap with the calibrator refitted in every replicate
(analysis/cje_bootstrap.py), beside cje.policy_estimates' influence-function SEs and jackknife:
cje.direct_bootstrap, a row per policy with fresh draws. `n_bootstrap = 0` skips it (no rows)."""

import dagster as dg
import pandas as pd

from analysis.cje_bootstrap import Draws, bootstrap_direct
from assets.cje.config import BootstrapConfig
from assets.cje.policy_estimates import FRESH
from assets.core.tables import Written, one, table_step
from assets.lineage import MODEL, Query, reads
from resources.datasets import DatasetError
from resources.warehouse import Warehouse

LABELS = Query("""
    SELECT l.prompt_id, l.oracle_label, r.fold, r.judge_score, r.judge_variance, r.response_length
    FROM cje.calibration_labels AS l
    JOIN cje.calibrated_rewards AS r USING (prompt_id, policy, source, draw_idx)
    ORDER BY l.prompt_id, l.policy, l.source, l.draw_idx""")
CALIBRATION = Query("SELECT calibration_mode, covariates, n_folds FROM cje.calibration_summary")
DIRECT = Query("SELECT policy, v_hat, reason FROM cje.policy_estimates WHERE estimator = 'direct'")
COLUMNS = {"policy": str, "v_hat": float, "se": float, "ci_low": float, "ci_high": float, "n_bootstrap": "int64",
           "calibration_mode": str, "reason": str}


@table_step(deps=reads(LABELS, FRESH, CALIBRATION, DIRECT), layer=MODEL)
def direct_bootstrap(context: dg.AssetExecutionContext, config: BootstrapConfig, warehouse: Warehouse) -> Written:
    """Each policy's direct estimate with the refit bootstrap's SE and percentile interval."""
    if config.n_bootstrap != 0 and config.n_bootstrap < 2:
        raise DatasetError(f"cje__direct_bootstrap.n_bootstrap is 0 (none) or at least 2; got {config.n_bootstrap}")
    if config.n_bootstrap == 0:
        return one(pd.DataFrame({c: pd.Series(dtype=t) for c, t in COLUMNS.items()}), {"n_bootstrap": 0})
    calibration = warehouse.query(CALIBRATION).iloc[0]
    covariates = [c for c in (calibration.covariates or "").split(", ") if c]
    features = ["judge_score", *covariates]
    labels = warehouse.query(LABELS)
    fresh = warehouse.query(FRESH)
    draws = {p: Draws(g[features].to_numpy(float), g.prompt_id.to_numpy(object), g.fold.to_numpy(int),
                      g.oracle_label.to_numpy(float)) for p, g in fresh.groupby("policy", sort=True)}
    boot = bootstrap_direct(labels[features].to_numpy(float), labels.oracle_label.to_numpy(float),
                            labels.prompt_id.to_numpy(object), labels.fold.to_numpy(int), draws,
                            str(calibration.calibration_mode), int(calibration.n_folds), config.n_bootstrap, config.seed)
    direct = warehouse.query(DIRECT).set_index("policy")
    frame = boot.summary().assign(calibration_mode=str(calibration.calibration_mode))
    frame["v_hat"] = frame.policy.map(direct.v_hat)
    frame["reason"] = frame.policy.map(direct.reason)
    return one(frame[list(COLUMNS)], {"n_bootstrap": config.n_bootstrap, "seed": config.seed})
