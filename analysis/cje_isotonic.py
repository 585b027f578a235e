"""Isotonic regression, as the CJE calibration and estimators need it (no I/O, no Dagster)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import isotonic_regression
from sklearn.isotonic import IsotonicRegression


@dataclass(frozen=True)
class ScoreGrid:
    """The distinct values of a score and each row's index among them. An isotonic fit on the
    distinct values' means, weighted by their counts, is the fit on every row (sklearn merges ties
    the same way), and judge scores take few distinct values: a grid made once serves every refit
    (the DR jackknife refits K x (K + 1) times per policy) at a fraction of the cost."""

    values: np.ndarray
    codes: np.ndarray

    @classmethod
    def of(cls, x) -> "ScoreGrid":
        # hashing, not np.unique's sort of every row: 5M judge scores at scale, few distinct values
        codes, values = pd.factorize(np.asarray(x, dtype=float), sort=True, use_na_sentinel=False)
        return cls(np.asarray(values, dtype=float), codes.astype(np.intp))

    def fit(self, y: np.ndarray, mask: np.ndarray | None = None, increasing: bool = True) -> IsotonicRegression:
        codes, y = (self.codes, y) if mask is None else (self.codes[mask], y[mask])
        return self._fit(np.bincount(codes, minlength=len(self.values)),
                         np.bincount(codes, weights=y, minlength=len(self.values)), increasing)

    def fits_out_of_fold(self, y: np.ndarray, folds: np.ndarray, n_folds: int) -> list[IsotonicRegression]:
        """fit(y, folds != k) for each fold k, from one pass over the rows: the sums over all folds
        less fold k's (the DR cross-fit and its jackknife make K x (K + 1) of these per policy)."""
        m = len(self.values)
        cell = np.asarray(folds) * m + self.codes
        counts = np.bincount(cell, minlength=n_folds * m).reshape(n_folds, m)
        sums = np.bincount(cell, weights=y, minlength=n_folds * m).reshape(n_folds, m)
        return [self._fit(counts.sum(0) - counts[k], sums.sum(0) - sums[k], True) for k in range(n_folds)]

    def _fit(self, counts: np.ndarray, sums: np.ndarray, increasing: bool) -> IsotonicRegression:
        """Isotonic regression on the grid's values: their mean y, weighted by their counts."""
        seen = counts > 0
        return IsotonicRegression(increasing=increasing, out_of_bounds="clip").fit(
            self.values[seen], sums[seen] / counts[seen], sample_weight=counts[seen])

    def predict(self, model: IsotonicRegression) -> np.ndarray:
        return model.predict(self.values)[self.codes]

    def predict_by_fold(self, models: list[IsotonicRegression], folds: np.ndarray) -> np.ndarray:
        """Each row through the model of its fold."""
        return np.stack([m.predict(self.values) for m in models])[folds, self.codes]


@dataclass(frozen=True)
class Isotonic:
    """Weighted isotonic (increasing) regression, flat beyond the data: sklearn's
    IsotonicRegression(out_of_bounds="clip") fit for fit (ties merged to their weighted mean,
    linear between the distinct x), on scipy's PAVA without sklearn's per-call checks, which took
    most of the time of the bootstrap's thousands of small refits."""

    x: np.ndarray
    y: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> "Isotonic":
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        w = np.ones(len(x)) if w is None else np.asarray(w, dtype=float)
        codes, values = pd.factorize(x, sort=True)
        mass = np.bincount(codes, weights=w, minlength=len(values))
        means = np.bincount(codes, weights=w * y, minlength=len(values)) / mass
        return cls(np.asarray(values, dtype=float), isotonic_regression(means, weights=mass).x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.interp(x, self.x, self.y)
