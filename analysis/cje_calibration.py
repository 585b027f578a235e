"""Judge calibration on numpy arrays (no I/O, no Dagster): the oracle's scale learnt from a judge.

* Folds (cje-eval 0.9's rule): the labelled prompts, sorted by blake2b("prompt_id-seed"), are dealt
  round-robin to K folds (sizes differ by at most one, so a small label slice leaves no fold
  empty); any other prompt takes that hash modulo K. Every draw of a prompt shares its fold.
* Calibration, cross-fitted: model f_k is fitted on the labels outside fold k, f on all of them; a
  labelled row's out-of-fold reward is f_{fold(row)}, and the estimators' plug-in uses f.
  `calibration_mode`:
    isotonic   isotonic regression of the label on the judge score S;
    two_stage  an index T = g(S, covariates) (cubic splines of each column, ridge with the
               penalty chosen by leave-one-out among 13), its empirical CDF, and isotonic
               regression of the label on that rank: monotone in the index, so it can follow a
               judge whose bias depends on a covariate (response length, the judge's own
               variance) or is not monotone in S; a fold with fewer than TWO_STAGE_MIN_ROWS
               labels to fit on ranks S itself;
    auto       both, out of fold; two_stage where its RMSE beats isotonic's by one SE of the
               latter or in at least two of the three judge-score thirds (cje-eval 0.9's rule;
               there, covariates force two_stage; here auto weighs them like any other fit).
  With the same labels, folds and mode this is cje-eval 0.9.3's FlexibleCalibrator, fit for fit
  (tests/cje/test_direct.py).
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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import isotonic_regression
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import RidgeCV
from sklearn.preprocessing import SplineTransformer

MODES = ("isotonic", "two_stage", "auto")
TWO_STAGE_MIN_ROWS = 20  # fewer labels to fit a fold on: its index is the judge score itself
N_SPLINES = 8            # knots per column (fewer where the labels are few: a knot per 4 labels)
RIDGE_ALPHAS = np.logspace(-3, 3, 13)


def _hash(prompt_id, seed: int) -> bytes:
    return hashlib.blake2b(f"{prompt_id}-{seed}".encode(), digest_size=16).digest()


@dataclass(frozen=True)
class Folds:
    """The fold of every prompt: the labelled ones dealt round-robin in hash order, any other by
    its hash modulo K (see the module docstring)."""

    n_folds: int
    seed: int
    dealt: dict

    @classmethod
    def of_labels(cls, labelled_prompt_ids, n_folds: int = 5, seed: int = 42) -> "Folds":
        ordered = sorted({str(p) for p in labelled_prompt_ids}, key=lambda p: (_hash(p, seed), p))
        return cls(n_folds, seed, {p: i % n_folds for i, p in enumerate(ordered)})

    def __call__(self, prompt_ids) -> np.ndarray:
        """The fold of each id, hashing each distinct id once (a prompt recurs across policies and draws)."""
        codes, unique = pd.factorize(np.asarray(prompt_ids, dtype=object))
        dealt, k, seed = self.dealt, self.n_folds, self.seed
        per_id = [dealt[p] if p in dealt else int.from_bytes(_hash(p, seed), "big") % k for p in map(str, unique)]
        return np.array(per_id, dtype=np.int64)[codes]


def distinct_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct rows of X, each row's index among them): a reward depends on the judge score
    and covariates alone, and 5M judged rows at scale hold few distinct ones without covariates."""
    X = _features(X)
    per_column = [pd.factorize(X[:, j], use_na_sentinel=False) for j in range(X.shape[1])]
    if len(per_column) == 1:
        codes, values = per_column[0]
        return np.asarray(values, dtype=float)[:, None], codes.astype(np.intp)
    combined = np.zeros(len(X), dtype=np.int64)
    for codes, values in per_column:
        combined = combined * len(values) + codes
    codes, _ = pd.factorize(combined)
    first_row = pd.Series(np.arange(len(X))).groupby(codes).first().to_numpy()
    return X[first_row], codes.astype(np.intp)


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


def _isotonic(x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> Isotonic:
    return Isotonic.fit(x, y, w)


def _midranks(t: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The weighted empirical CDF of t: its distinct values and their mid-ranks (ties share the
    middle of their mass)."""
    order = np.argsort(t, kind="mergesort")
    values, starts = np.unique(t[order], return_index=True)
    mass = np.add.reduceat(np.ones(len(t)) if w is None else np.asarray(w, float)[order], starts)
    cumulative = np.cumsum(mass)
    return values, (cumulative - 0.5 * mass) / cumulative[-1]


@dataclass
class Stage:
    """One fitted map from features X (column 0 the judge score, then the covariates) to a reward:
    isotonic in S, or (two_stage) isotonic in the rank of an index g(X)."""

    isotonic: Isotonic | None
    ranks: tuple[np.ndarray, np.ndarray] | None = None  # the index's ECDF (two_stage)
    spline: SplineTransformer | None = None              # the index, where not S itself
    coef: np.ndarray | None = None
    intercept: float = 0.0

    def index(self, X: np.ndarray) -> np.ndarray:
        if self.spline is None:
            return X[:, 0]
        features = self.spline.transform(X)
        # column by column in a fixed order: a last-bit difference between the rows fitted and the
        # rows predicted could cross an ECDF step (cje-eval 0.9 sums the same way)
        out = np.zeros(len(X))
        for j, c in enumerate(self.coef):
            out += features[:, j] * c
        return out + self.intercept

    def rank(self, t: np.ndarray) -> np.ndarray:
        values, mid = self.ranks
        at = np.searchsorted(values, t, side="right")
        return np.where(at > 0, mid[np.maximum(at - 1, 0)], 0.0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        if not len(X):
            return np.empty(0)
        if self.ranks is None:
            return self.isotonic.predict(X[:, 0])
        return self.isotonic.predict(self.rank(self.index(X)))


def fit_stage(X: np.ndarray, y: np.ndarray, w: np.ndarray | None, mode: str) -> Stage:
    if mode == "isotonic":
        return Stage(_isotonic(X[:, 0], y, w))
    stage = Stage(None)
    if len(y) >= TWO_STAGE_MIN_ROWS:
        spline = SplineTransformer(n_knots=min(N_SPLINES, len(y) // 4), degree=3, include_bias=False).fit(X)
        ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(spline.transform(X), y, sample_weight=w)
        stage.spline, stage.coef, stage.intercept = spline, np.asarray(ridge.coef_, float), float(ridge.intercept_)
    t = stage.index(X)
    stage.ranks = _midranks(t, w)
    stage.isotonic = _isotonic(stage.rank(t), y, w)
    return stage


def _rmse(y: np.ndarray, prediction: np.ndarray, w: np.ndarray | None) -> float:
    return float(np.sqrt(np.average((y - prediction) ** 2, weights=w)))


def two_stage_is_better(s: np.ndarray, y: np.ndarray, w: np.ndarray | None, isotonic_oof: np.ndarray,
                        two_stage_oof: np.ndarray) -> bool:
    """auto's choice: two_stage's out-of-fold RMSE below isotonic's by more than one SE of the
    latter (the delta method on its squared residuals), or lower in two of the judge's thirds."""
    n, third = len(y), len(y) // 3
    order = np.argsort(s, kind="stable")
    regions = (order[:third], order[third:2 * third], order[2 * third:])
    sub = (lambda r: None) if w is None else (lambda r: w[r])
    better = sum(_rmse(y[r], two_stage_oof[r], sub(r)) < _rmse(y[r], isotonic_oof[r], sub(r)) for r in regions)
    squared = (y - isotonic_oof) ** 2
    if w is None:
        se_mse = float(np.std(squared, ddof=1) / np.sqrt(n)) if n > 1 else 0.0
    else:
        p = w / w.sum()
        mse = float(np.sum(p * squared))
        se_mse = float(np.sqrt(np.sum(p * (squared - mse) ** 2) / max(1.0 / float(np.sum(p ** 2)), 1.0)))
    rmse_isotonic = _rmse(y, isotonic_oof, w)
    se_rmse = se_mse / (2 * max(rmse_isotonic, 1e-12))
    return _rmse(y, two_stage_oof, w) < rmse_isotonic - se_rmse or better >= 2


@dataclass
class Calibration:
    """K fold models f_k (each fitted without fold k's labels) and one model f on all labels."""

    mode: str  # the mode fitted (auto resolved)
    fold_models: list[Stage]
    full_model: Stage
    n_folds: int
    seed: int
    label_range: tuple[float, float]
    support: CalibrationSupport
    oof_rmse: dict[str, float] = field(default_factory=dict)  # per candidate mode

    def predict(self, X: np.ndarray) -> np.ndarray:
        """f: the reward of each row (the model fitted on every label)."""
        return np.clip(self.full_model.predict(_features(X)), 0.0, 1.0)

    def replicates(self, X: np.ndarray) -> np.ndarray:
        """(K, n): each row's reward under each delete-one-fold model."""
        X = _features(X)
        return np.stack([np.clip(m.predict(X), 0.0, 1.0) for m in self.fold_models])

    def oof(self, X: np.ndarray, folds: np.ndarray) -> np.ndarray:
        """Out-of-fold rewards: each row through the model fitted without its fold."""
        return self.replicates(X)[np.asarray(folds), np.arange(len(folds))]

    def apply(self, X: np.ndarray, folds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(out-of-fold rewards, (K, n) jackknife replicates, full-model rewards) for these rows,
        each distinct row of X predicted once."""
        values, codes = distinct_rows(_features(X))
        replicates = self.replicates(values)
        return replicates[np.asarray(folds), codes], replicates[:, codes], self.predict(values)[codes]


def _features(X) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    return X if X.ndim == 2 else X.reshape(len(X), -1) if X.size else X.reshape(len(X), 1)


def fit_calibration(X: np.ndarray, labels: np.ndarray, folds: np.ndarray, n_folds: int, seed: int = 42,
                    mode: str = "isotonic", weights: np.ndarray | None = None) -> Calibration:
    """The cross-fitted calibration of `labels` on X (the judge scores, or the judge scores and
    covariates as columns), by `mode` (MODES)."""
    if mode not in MODES:
        raise ValueError(f"calibration_mode {mode!r}; valid: {', '.join(MODES)}")
    X, y = _features(X), np.asarray(labels, dtype=float)
    folds = np.asarray(folds)
    if len(y) < n_folds:
        raise ValueError(f"{len(y)} oracle labels is fewer than n_folds={n_folds}")
    empty = [k for k in range(n_folds) if (folds != k).sum() == 0]
    if empty:
        raise ValueError(f"fold(s) {empty} leave no labels to fit a calibrator on")
    w = None if weights is None else np.asarray(weights, dtype=float)
    fits, oof, rmse = {}, {}, {}
    for candidate in (("isotonic", "two_stage") if mode == "auto" else (mode,)):
        fits[candidate] = [fit_stage(X[folds != k], y[folds != k], None if w is None else w[folds != k], candidate)
                           for k in range(n_folds)]
        oof[candidate] = np.zeros(len(y))
        for k, model in enumerate(fits[candidate]):
            oof[candidate][folds == k] = model.predict(X[folds == k])
        rmse[candidate] = _rmse(y, oof[candidate], w)
    chosen = mode if mode != "auto" else (
        "two_stage" if two_stage_is_better(X[:, 0], y, w, oof["isotonic"], oof["two_stage"]) else "isotonic")
    return Calibration(chosen, fits[chosen], fit_stage(X, y, w, chosen), n_folds, seed,
                       (float(y.min()), float(y.max())), CalibrationSupport.of(X[:, 0], y), rmse)


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
