"""The two-stage index's ridge (analysis/cje_ridge.py) against scikit-learn's RidgeCV, the
implementation cje-eval 0.9 calls: the same penalty, coefficients and intercept."""

import numpy as np
import pytest
from sklearn.linear_model import RidgeCV
from sklearn.preprocessing import SplineTransformer

from analysis.cje_calibration import RIDGE_ALPHAS, distinct_rows
from analysis.cje_ridge import ridge_gcv


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("columns", [1, 2])
@pytest.mark.parametrize("seed", range(4))
def test_ridge_gcv_is_ridgecvs_fit(seed, columns, weighted):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(40, 3000))
    score = rng.integers(0, 20, n) / 20           # a judge's few distinct values
    X = score[:, None] if columns == 1 else np.c_[score, rng.integers(1, 8, n) * 25.0]
    # a noise level per seed so that the chosen penalty moves across the grid
    y = np.clip(score + 0.3 * (columns - 1) * X[:, -1] / 200 + rng.normal(0, [0.05, 0.3, 1, 3][seed], n), 0, 1)
    w = rng.exponential(size=n) if weighted else None
    spline = SplineTransformer(n_knots=min(8, n // 4), degree=3, include_bias=False).fit(X)
    reference = RidgeCV(alphas=RIDGE_ALPHAS).fit(spline.transform(X), y, sample_weight=w)
    distinct, codes = distinct_rows(X)
    ours = ridge_gcv(spline.transform(distinct), codes, y, w, RIDGE_ALPHAS)
    assert ours.alpha == reference.alpha_
    np.testing.assert_allclose(ours.coef, reference.coef_, rtol=1e-8, atol=1e-10)
    assert ours.intercept == pytest.approx(reference.intercept_, rel=1e-9, abs=1e-11)


def test_the_shortcut_it_avoids_chooses_another_penalty():
    """The comparison can fail: RidgeCV on the distinct rows' means, weighted by their counts, fits
    the same coefficients for a given penalty but leaves out a group, not a row, so its choice of
    penalty differs; ridge_gcv, which sums per distinct row, still chooses RidgeCV's."""
    rng = np.random.default_rng(4)
    X = (rng.integers(0, 20, 200) / 20)[:, None]
    y = X[:, 0] + rng.normal(0, 0.5, 200)
    spline = SplineTransformer(n_knots=8, degree=3, include_bias=False).fit(X)
    reference = RidgeCV(alphas=RIDGE_ALPHAS).fit(spline.transform(X), y)
    distinct, codes = distinct_rows(X)
    count = np.bincount(codes)
    grouped = RidgeCV(alphas=RIDGE_ALPHAS).fit(spline.transform(distinct), np.bincount(codes, weights=y) / count,
                                               sample_weight=count)
    assert ridge_gcv(spline.transform(distinct), codes, y, None, RIDGE_ALPHAS).alpha == reference.alpha_
    assert grouped.alpha_ != reference.alpha_
