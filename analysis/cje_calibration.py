"""Judge calibration on numpy arrays (no I/O, no Dagster): the oracle's scale learnt from a judge.

* Calibration: isotonic regression of oracle label on judge score, cross-fitted over K folds
  (fold = hash of prompt_id, as cje-eval assigns them). Model f_k is fitted on the labels
  outside fold k; a row's reward is f_{fold(row)}(S) (out of fold).
* Where the labels are thin: isotonic regression is flat beyond the labelled judge scores and
  unreliable in its tails (its end blocks are the least and greatest of running means, biased
  towards the extremes), and neither the SE nor a bootstrap that refits the calibrator sees that
  error (every refit is flat there too). What calibration already assumes, a judge monotone in the
  oracle, bounds it. Let k = max(10, sqrt(n_labels)) and [s_lo, s_hi] the scores of the k-th lowest
  and k-th highest label (the supported range). Below s_lo the truth lies in [0, U], U the mean
  label of the next k labels up (>= f(s_lo) in expectation); above s_hi in [L, 1], L likewise. A
  row averaged with mass a and reward r there moves the value by at most a r down and a (U - r) up
  (mirrored above), which gives an identified interval [v - down, v + up]; the CI is Imbens and
  Manski's (2004) for a partially identified value: that interval widened by c * se, c solving
  T(c + width / se) - T(-c) = 0.95, clipped to [0, 1]. Where more than half of the mass is
  outside the supported range the point estimate is withheld (NaN, with the reason) and the
  interval is still given. IPS-type estimators average rewards over logged rows with their
  weights; direct and DR over the policy's fresh draws (DR's correction term, R - q, is flat in
  both parts there and carries none of it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.isotonic import IsotonicRegression


def fold_of(prompt_id: str, n_folds: int = 5, seed: int = 42) -> int:
    """Stable fold of a prompt (blake2b of "prompt_id-seed-n_folds"), the same as cje-eval's."""
    digest = hashlib.blake2b(f"{prompt_id}-{seed}-{n_folds}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n_folds


def folds_of(prompt_ids, n_folds: int = 5, seed: int = 42) -> np.ndarray:
    """fold_of of each id, hashing each distinct id once (a prompt recurs across policies and draws)."""
    codes, unique = pd.factorize(np.asarray(prompt_ids, dtype=object))
    suffix, blake2b = f"-{seed}-{n_folds}".encode(), hashlib.blake2b  # fold_of, inlined: 1M ids at scale
    return np.array([int.from_bytes(blake2b(str(p).encode() + suffix, digest_size=8).digest(), "big") % n_folds
                     for p in unique], dtype=int)[codes]


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


def isotonic(x: np.ndarray, y: np.ndarray, increasing: bool = True) -> IsotonicRegression:
    return ScoreGrid.of(x).fit(np.asarray(y, dtype=float), increasing=increasing)


@dataclass
class Calibration:
    """K fold models f_k (each fitted without fold k's labels) and one model on all labels."""

    fold_models: list[IsotonicRegression]
    full_model: IsotonicRegression
    n_folds: int
    seed: int
    label_range: tuple[float, float]
    support: CalibrationSupport

    def oof(self, scores: np.ndarray, folds: np.ndarray) -> np.ndarray:
        """Out-of-fold rewards: each row through the model fitted without its fold."""
        return ScoreGrid.of(scores).predict_by_fold(self.fold_models, folds)

    def apply(self, prompt_ids, scores: np.ndarray, folds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(out-of-fold rewards, (K, n) rewards of each jackknife replicate) for these rows."""
        grid = ScoreGrid.of(scores)
        folds = folds_of(prompt_ids, self.n_folds, self.seed) if folds is None else folds
        replicates = np.stack([m.predict(grid.values) for m in self.fold_models])
        return replicates[folds, grid.codes], replicates[:, grid.codes]


def fit_calibration(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray, n_folds: int,
                    seed: int = 42) -> Calibration:
    if len(labels) < n_folds:
        raise ValueError(f"{len(labels)} oracle labels is fewer than n_folds={n_folds}")
    empty = [k for k in range(n_folds) if (folds != k).sum() == 0]
    if empty:
        raise ValueError(f"fold(s) {empty} leave no labels to fit a calibrator on")
    models = [isotonic(scores[folds != k], labels[folds != k]) for k in range(n_folds)]
    return Calibration(models, isotonic(scores, labels), n_folds, seed,
                       (float(labels.min()), float(labels.max())), CalibrationSupport.of(scores, labels))


@dataclass(frozen=True)
class CalibrationSupport:
    """Where the calibration labels are dense enough to trust the isotonic fit, and what bounds the
    truth beyond (see the module docstring)."""

    tail_labels: int         # k
    judge_min: float         # s_lo: the k-th lowest labelled judge score
    judge_max: float         # s_hi: the k-th highest
    oracle_upper_below: float  # U: bounds f from above below s_lo
    oracle_lower_above: float  # L: bounds f from below above s_hi

    @classmethod
    def of(cls, scores: np.ndarray, labels: np.ndarray) -> "CalibrationSupport":
        n = len(labels)
        # sqrt, not a fixed share: the thin tails shrink as labels accrue (at 250,000 labels a tenth
        # left 88% of a policy's judge scores "unsupported" among 25,000 labels)
        k = min(max(10, round(np.sqrt(n))), max(1, n // 2))
        order = np.argsort(scores, kind="stable")
        s, y = scores[order], labels[order]
        return cls(k, float(s[k - 1]), float(s[n - k]), float(y[k: 2 * k].mean()), float(y[n - 2 * k: n - k].mean()))

    def bounds(self, scores: np.ndarray, rewards: np.ndarray, mass: np.ndarray) -> tuple[float, float, float]:
        """(how far below and above the estimate the value may lie, share of the mass outside the
        supported range) for an estimate that averages `rewards` of `scores` with weights `mass`."""
        total = float(mass.sum())
        if total <= 0 or len(scores) == 0:
            return 0.0, 0.0, 0.0
        lo, hi = scores < self.judge_min, scores > self.judge_max
        down = float((mass[lo] * rewards[lo]).sum() + (mass[hi] * np.clip(rewards[hi] - self.oracle_lower_above, 0, None)).sum())
        up = float((mass[lo] * np.clip(self.oracle_upper_below - rewards[lo], 0, None)).sum() + (mass[hi] * (1 - rewards[hi])).sum())
        return down, up, float(mass[lo | hi].sum()) / total


EVERYTHING_SUPPORTED = CalibrationSupport(0, -np.inf, np.inf, 1.0, 0.0)


def spearman_and_r2(scores: np.ndarray, labels: np.ndarray, predictions: np.ndarray) -> tuple[float, float]:
    rho = float(stats.spearmanr(scores, labels).statistic) if len(labels) > 2 else float("nan")
    ss_res = float(np.sum((labels - predictions) ** 2))
    ss_tot = float(np.sum((labels - labels.mean()) ** 2))
    return rho, (1 - ss_res / ss_tot) if ss_tot > 0 else float("nan")
