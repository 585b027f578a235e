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
* Where the labels are thin: analysis/cje_support.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.preprocessing import SplineTransformer

from analysis.cje_isotonic import Isotonic
from analysis.cje_ridge import ridge_gcv
from analysis.cje_support import CalibrationSupport

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
        distinct, codes = distinct_rows(X)
        ridge = ridge_gcv(spline.transform(distinct), codes, y, w, RIDGE_ALPHAS)
        stage.spline, stage.coef, stage.intercept = spline, ridge.coef, ridge.intercept
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


def spearman_and_r2(scores: np.ndarray, labels: np.ndarray, predictions: np.ndarray) -> tuple[float, float]:
    rho = float(stats.spearmanr(scores, labels).statistic) if len(labels) > 2 else float("nan")
    ss_res = float(np.sum((labels - predictions) ** 2))
    ss_tot = float(np.sum((labels - labels.mean()) ** 2))
    return rho, (1 - ss_res / ss_tot) if ss_tot > 0 else float("nan")
