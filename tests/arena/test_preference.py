"""Do behaviours predict the outcome: planted cases where they do and where they do not, and the
SQL summary against statsmodels (Wilson intervals, exact McNemar) on a table written here."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from analysis.preference import held_out, identity_outcomes, winner_outcomes
from assets.sql_models import load_sql_models
from resources import build_resources
from resources.warehouse import Warehouse


def planted(seed: int, effect: float, n: int = 2000):
    """Four equal models; a behaviour shown by one side only (+1 A, -1 B) in 60% of battles, worth
    `effect` log-odds of winning; a style covariate of pure noise."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(1, 4, n)) % 4
    shows = rng.choice([-1.0, 0.0, 1.0], size=n, p=[0.3, 0.4, 0.3])
    style = rng.normal(size=(n, 1))
    won_a = (rng.random(n) < 1 / (1 + np.exp(-effect * shows))).astype(float)
    test = held_out(pd.Series([f"b{i:05d}" for i in range(n)]), 0.25, seed)
    ids = np.array([f"b{i}" for i in range(n)])
    run = lambda x: winner_outcomes(a, b, won_a, 4, x, test, ids)  # noqa: E731
    return run(sparse.csr_matrix(style)), run(sparse.hstack([sparse.csr_matrix(style), sparse.csr_matrix(shows[:, None])]))


def test_a_planted_behaviour_predicts_the_winner_beyond_style():
    style_only, with_behaviour = planted(0, effect=2.0)
    assert len(style_only) == len(with_behaviour) == 500  # the same held-out battles
    assert (with_behaviour.item_id.to_numpy() == style_only.item_id.to_numpy()).all()
    # with effect 2 the behaviour side wins sigmoid(2) = 88% of its battles: 60% x 0.88 + 40% x 0.5
    assert with_behaviour.correct.mean() == pytest.approx(0.6 * 0.881 + 0.4 * 0.5, abs=0.06)
    assert with_behaviour.correct.mean() > style_only.correct.mean() + 0.15
    assert with_behaviour.log_loss.mean() < style_only.log_loss.mean()


def test_a_behaviour_without_effect_adds_nothing():
    style_only, with_behaviour = planted(1, effect=0.0)
    assert abs(with_behaviour.correct.mean() - style_only.correct.mean()) < 0.05
    assert abs(with_behaviour.correct.mean() - 0.5) < 0.07  # the models are equal: a coin


def test_identity_from_a_behaviour_only_one_model_shows():
    rng = np.random.default_rng(2)
    labels = rng.choice(["x", "y", "z"], size=600)
    shows = ((labels == "x") & (rng.random(600) < 0.9)).astype(float)[:, None]
    test = held_out(pd.Series([f"r{i:04d}" for i in range(600)]), 0.3, 2)
    ids = np.arange(600).astype(str)
    majority = identity_outcomes(None, labels, test, ids)
    informed = identity_outcomes(sparse.csr_matrix(shows), labels, test, ids)
    share_x = (labels[test] == "x").mean()
    # x is recognised 90% of the time; y and z stay a coin between them
    assert informed.correct.mean() == pytest.approx(share_x * 0.9 + (1 - share_x) / 2, abs=0.08)
    assert informed.correct.mean() > majority.correct.mean() + 0.15


def test_the_summary_equals_statsmodels(settings_file):
    rng = np.random.default_rng(4)
    items = [f"b{i}" for i in range(120)]
    right = {"models": rng.random(120) < 0.55, "models+style": rng.random(120) < 0.62,
             "models+style+behaviours": rng.random(120) < 0.75}
    frame = pd.concat([pd.DataFrame({"task": "winner", "features": f, "item_id": items, "truth": "model_a",
                                     "correct": c, "log_loss": rng.exponential(0.7, 120)}) for f, c in right.items()])

    @dg.asset(key=["arena", "prediction_outcomes"])
    def outcomes(warehouse: Warehouse) -> None:
        warehouse.write_table("arena.prediction_outcomes", frame)

    model = [a for a in load_sql_models() if a.key == dg.AssetKey(["arena", "preference_prediction"])]
    assert dg.materialize([outcomes, *model], resources=build_resources(str(settings_file))).success
    summary = Warehouse().query("SELECT * FROM arena.preference_prediction").set_index("features")
    for features, correct in right.items():
        row = summary.loc[features]
        low, high = proportion_confint(correct.sum(), 120, method="wilson")
        assert (row.accuracy_ci_low, row.accuracy_ci_high) == pytest.approx((low, high), abs=1e-9)
    for features, previous in (("models+style", "models"), ("models+style+behaviours", "models+style")):
        cur, prev = right[features], right[previous]
        table = [[(cur & prev).sum(), (~cur & prev).sum()], [(cur & ~prev).sum(), (~cur & ~prev).sum()]]
        assert summary.loc[features, "mcnemar_p_value"] == pytest.approx(mcnemar(table, exact=True).pvalue, abs=1e-9)
        assert summary.loc[features, "accuracy_gain"] == pytest.approx(cur.mean() - prev.mean(), abs=1e-12)
        p = mcnemar(table, exact=True).pvalue
        assert bool(summary.loc[features, "adds_over_previous"]) == bool(cur.mean() > prev.mean() and p < 0.05)
    # the planted gain of behaviours (0.62 -> 0.75 on 120 items) is the case that makes it fire
    assert bool(summary.loc["models+style+behaviours", "adds_over_previous"]) is True
