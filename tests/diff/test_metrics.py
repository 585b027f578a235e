"""diff.iteration_metrics (SQL) against sklearn, scipy and statsmodels on the same predictions."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from statsmodels.stats.proportion import proportion_confint

from assets.diff.iterations import combine
from assets.sql_models import load_sql_models
from resources import build_resources
from resources.warehouse import Warehouse


def materialize_metrics(settings_file, p_a: dict[str, np.ndarray], n: int = 40, abstain: int = 0):
    """diff.rows with n rows a side (half unseen; A's texts say "alpha", B's "beta") and predictions
    p_a per stage (stages named *_baseline go to diff.baseline_predictions); then the SQL."""
    wh = Warehouse()
    rows = pd.DataFrame([{"row_id": f"{s}:{i}", "side": s, "idx": i, "split": "unseen" if i % 2 else "seen",
                          "text": f"{'alpha' if s == 'A' else 'beta'} text number {i}", "n_chars": 1,
                          "source": f"sample:{s}"} for s in "AB" for i in range(n)])
    preds = []
    for stage, values in p_a.items():
        for j, r in enumerate(rows.itertuples()):
            skip = j < abstain
            preds.append({"stage": stage, "iteration": 1, "row_id": r.row_id,
                          "p_a": None if skip else float(values[j]), "abstained": skip})
    wh.write_table("diff.rows", rows)
    frame = pd.DataFrame(preds)
    baseline = frame.stage.str.endswith("_baseline")
    wh.write_table("diff.predictions", frame[~baseline])
    wh.write_table("diff.baseline_predictions", frame[baseline])
    sql = [a for a in load_sql_models() if a.key.path[0] == "diff"]
    assert dg.materialize(sql, resources=build_resources(str(settings_file)),
                          selection=["diff/all_predictions", "diff/iteration_metrics"]).success
    return rows, pd.DataFrame(preds), wh.query("SELECT * FROM diff.iteration_metrics")


def test_metrics_equal_sklearn_scipy_statsmodels(settings_file):
    rng = np.random.default_rng(3)
    n = 60
    truth = np.r_[np.ones(n), np.zeros(n)]
    noisy = np.clip(0.5 + 0.25 * (truth - 0.5) + rng.normal(0, 0.2, 2 * n), 0.01, 0.99)
    noisy[:6] = 0.5  # ties
    rows, preds, metrics = materialize_metrics(settings_file, {"loop": noisy}, n=n, abstain=5)
    joined = preds.merge(rows, on="row_id")
    for split, got in metrics.set_index("split").iterrows():
        part = joined[(joined.split == split) & ~joined.abstained]
        y, p = (part.side == "A").astype(int).to_numpy(), part.p_a.to_numpy(float)
        k = int(((p >= 0.5) == (y == 1)).sum())
        assert got.n == len(part) and got.n_abstained == int(joined[(joined.split == split)].abstained.sum())
        assert got.accuracy == pytest.approx(k / len(part), abs=1e-12)
        low, high = proportion_confint(k, len(part), method="wilson")
        assert (got.accuracy_ci_low, got.accuracy_ci_high) == pytest.approx((low, high), abs=1e-9)
        assert got.binomial_p_value == pytest.approx(stats.binomtest(k, len(part), 0.5).pvalue, rel=1e-9)
        auc = roc_auc_score(y, p)
        assert got.auroc == pytest.approx(auc, abs=1e-12)
        n1, n0 = int(y.sum()), int(len(y) - y.sum())  # Hanley and McNeil (1982), eq. 2
        q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
        se = np.sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc ** 2) + (n0 - 1) * (q2 - auc ** 2)) / (n1 * n0))
        assert (got.auroc_ci_low, got.auroc_ci_high) == pytest.approx(
            (max(0, auc - stats.norm.ppf(0.975) * se), min(1, auc + stats.norm.ppf(0.975) * se)), abs=1e-12)
        assert got.brier == pytest.approx(brier_score_loss(y, p), abs=1e-12)
        assert got.log_loss == pytest.approx(log_loss(y, p), abs=1e-12)
        assert got.mean_confidence == pytest.approx(np.maximum(p, 1 - p).mean(), abs=1e-12)


def test_a_perfect_classifier_scores_100_and_a_constant_one_50(settings_file):
    n = 20
    perfect = np.r_[np.full(n, 0.9), np.full(n, 0.1)]
    always_a = np.full(2 * n, combine(1.0, 0.0))  # answers "A" in both label orders
    assert combine(1.0, 0.0) == 0.5 and combine(None, 0.2) == 0.2 and combine(None, None) is None
    _, _, metrics = materialize_metrics(settings_file, {"final": perfect, "loop": always_a}, n=n)
    by = metrics.set_index(["stage", "split"])
    assert (by.loc["final"].accuracy == 1.0).all() and (by.loc["final"].auroc == 1.0).all()
    assert (by.loc["loop"].accuracy == 0.5).all() and (by.loc["loop"].auroc == 0.5).all()
    assert (by.loc["loop"].binomial_p_value == 1.0).all()
