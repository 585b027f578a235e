"""Ridge regression with its penalty chosen by leave-one-out (GCV), as scikit-learn's `RidgeCV`
(default scoring, unpenalized intercept, sample weights) chooses it, on the distinct rows.

Why not RidgeCV itself: the two-stage calibration index fits one per fold model, and the refit
bootstrap fits 6 per replicate on tens of thousands of labels whose features (a spline of the judge
score and a few covariates) take far fewer distinct values. RidgeCV forms the hat diagonal row by
row for every penalty; here the normal equations and the hat's quadratic form are summed per
distinct row once, and each row's leave-one-out residual is

    sqrt(w_i) (y_i - yhat_i) / (1 - w_i (q_g + 1 / W))

with q_g = (f_g - fbar)' (F_c' W F_c + alpha I)^-1 (f_g - fbar) for its distinct row g: RidgeCV's
own expression for a dense X after its weighted centring (tests/cje/test_ridge.py compares the
penalty, coefficients and intercept with RidgeCV's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RidgeFit:
    coef: np.ndarray
    intercept: float
    alpha: float


def ridge_gcv(features: np.ndarray, codes: np.ndarray, y: np.ndarray, w: np.ndarray | None,
              alphas: np.ndarray) -> RidgeFit:
    """features: (G, p) for the distinct rows; codes: each row's distinct row; y, w: per row."""
    y = np.asarray(y, float)
    w = np.ones(len(y)) if w is None else np.asarray(w, float)
    G = len(features)
    mass = np.bincount(codes, weights=w, minlength=G)
    total = mass.sum()
    f_mean = mass @ features / total
    y_mean = float(w @ y) / total
    centred = features - f_mean
    cov = (centred * mass[:, None]).T @ centred
    xy = centred.T @ (np.bincount(codes, weights=w * y, minlength=G) - mass * y_mean)
    eigvals, V = np.linalg.eigh(cov)
    Z = centred @ V
    shrink = 1.0 / (eigvals[:, None] + np.asarray(alphas, float)[None, :])   # (p, A)
    fitted = Z @ ((V.T @ xy)[:, None] * shrink)                              # (G, A)
    leverage = (Z * Z) @ shrink + 1.0 / total                                # (G, A)
    residual = (y - y_mean)[:, None] - fitted[codes]
    loo = w[:, None] * residual ** 2 / (1.0 - w[:, None] * leverage[codes]) ** 2
    scores = -loo.mean(axis=0)
    best = 0
    for i in range(1, len(alphas)):   # the first of equal scores, as RidgeCV keeps it
        if scores[i] > scores[best]:
            best = i
    coef = V @ ((V.T @ xy) * shrink[:, best])
    return RidgeFit(coef, float(y_mean - f_mean @ coef), float(alphas[best]))
