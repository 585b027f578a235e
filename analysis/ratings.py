"""Bradley-Terry ratings from pairwise battles, as Chatbot Arena fits them, on numpy arrays.

P(A beats B) = sigmoid(ln(10) (r_A - r_B) / 400 + x'beta): a logistic regression with no intercept
on +ln(10) for model A's indicator and -ln(10) for model B's (FastChat's `compute_mle_elo`,
scikit-learn, no penalty), a tie counted as one win each way and a win as two (FastChat's weights),
ratings on the Elo scale: 400 * coefficient + 1000, then shifted so that the anchor (a named model,
or the mean of the rated models) sits at 1000. With covariates x (style control: normalised
differences A - B of each response feature; behaviour clusters: presence in A minus presence in
B), the fit is per battle and beta says what a feature is worth in preference, the models' own
strength held fixed. Intervals: a seeded bootstrap over battles, percentile 2.5-97.5%, each round
warm-started from the full fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import LogisticRegression

SCALE, BASE, INIT_RATING = 400.0, 10.0, 1000.0
FIT_COEFFICIENT_COLUMNS = ["covariate", "coefficient", "se", "ci_low", "ci_high", "battles"]


@dataclass
class Fit:
    ratings: pd.Series          # by model, anchored
    coefficients: pd.Series     # by covariate (empty without covariates)


def design(a: np.ndarray, b: np.ndarray, n_models: int, covariates: np.ndarray | None) -> sparse.csr_matrix:
    rows = np.arange(len(a))
    log_base = math.log(BASE)
    models = sparse.csr_matrix((np.r_[np.full(len(a), log_base), np.full(len(a), -log_base)],
                                (np.r_[rows, rows], np.r_[a, b])), shape=(len(a), n_models))
    if covariates is None or covariates.shape[1] == 0:
        return models
    return sparse.hstack([models, sparse.csr_matrix(covariates)], format="csr")


def _weighted_rows(a, b, outcome, covariates, weight):
    """Each battle twice, as A-won and as B-won rows, weighted 2/0 for a win and 1/1 for a tie
    (FastChat's: a tie is one win each way, a win counts twice)."""
    win_a = np.where(outcome == 1, 2.0, np.where(outcome == 0, 0.0, 1.0)) * weight
    win_b = np.where(outcome == 0, 2.0, np.where(outcome == 1, 0.0, 1.0)) * weight
    keep_a, keep_b = win_a > 0, win_b > 0
    idx = np.r_[np.flatnonzero(keep_a), np.flatnonzero(keep_b)]
    y = np.r_[np.ones(keep_a.sum()), np.zeros(keep_b.sum())]
    w = np.r_[win_a[keep_a], win_b[keep_b]]
    cov = None if covariates is None else covariates[idx]
    return a[idx], b[idx], y, w, cov


def _by_pair(a, b, y, w, n_models):
    code = (a * n_models + b) * 2 + y.astype(int)
    keys, at = np.unique(code, return_inverse=True)
    summed = np.bincount(at, weights=w)
    return keys // 2 // n_models, keys // 2 % n_models, (keys % 2).astype(float), summed


def fit(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, models: list[str],
        covariates: np.ndarray | None = None, covariate_names: list[str] = (), anchor: str | None = None,
        weight: np.ndarray | None = None, warm_start: np.ndarray | None = None) -> tuple[Fit, np.ndarray]:
    """Ratings (and covariate coefficients) from battles: `a`, `b` model indices into `models`,
    `outcome` 1 (A won), 0 (B won) or 0.5 (tie); `weight` a count per battle (the bootstrap's).
    Returns the fit and the raw coefficient vector (to warm-start the next)."""
    weight = np.ones(len(a)) if weight is None else weight
    ra, rb, y, w, cov = _weighted_rows(a, b, outcome, covariates, weight)
    if cov is None:  # the same likelihood from one row per ordered pair and result, as FastChat sums them
        ra, rb, y, w = _by_pair(ra, rb, y, w, len(models))
    x = design(ra, rb, len(models), cov)
    lr = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-8, max_iter=1000,  # C=inf: no penalty
                            warm_start=warm_start is not None)
    if warm_start is not None:
        lr.coef_, lr.intercept_, lr.classes_ = warm_start.reshape(1, -1).copy(), np.zeros(1), np.array([0.0, 1.0])
    lr.fit(x, y, sample_weight=w)
    coef = lr.coef_[0]
    ratings = SCALE * coef[: len(models)] + INIT_RATING
    shift = INIT_RATING - (ratings[models.index(anchor)] if anchor else ratings.mean())
    return Fit(pd.Series(ratings + shift, index=models),
               pd.Series(coef[len(models):], index=list(covariate_names))), coef


def bootstrap(a, b, outcome, models, covariates=None, covariate_names=(), anchor=None, rounds: int = 100,
              seed: int = 42) -> tuple[Fit, pd.DataFrame, pd.DataFrame]:
    """The full fit, and each bootstrap round's ratings and coefficients (rounds x models, x covariates):
    battles resampled with replacement as multinomial counts (seeded), so a round is the same fit
    with other weights."""
    full, coef = fit(a, b, outcome, models, covariates, covariate_names, anchor)
    rng = np.random.default_rng(seed)
    ratings, coefficients = [], []
    for _ in range(rounds):
        counts = rng.multinomial(len(a), np.full(len(a), 1 / len(a))).astype(float)
        one, _ = fit(a, b, outcome, models, covariates, covariate_names, anchor, weight=counts, warm_start=coef)
        ratings.append(one.ratings)
        coefficients.append(one.coefficients)
    return full, pd.DataFrame(ratings).reset_index(drop=True), pd.DataFrame(coefficients).reset_index(drop=True)


def rated(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, n_models: int, min_battles: int) -> np.ndarray:
    """Which models get a rating (a boolean per model): the maximum likelihood exists only for
    models that have won and lost (or tied) against the others, and is meaningful only for those
    with enough battles. Repeatedly drop models with fewer than `min_battles` battles among the
    kept ones, or no win or no loss there (a tie counts half each way), then keep the largest
    connected set of the rest (ratings of separate groups are not comparable)."""
    from scipy.sparse.csgraph import connected_components

    keep = np.ones(n_models, dtype=bool)
    while True:
        among = keep[a] & keep[b]
        battles = np.bincount(a[among], minlength=n_models) + np.bincount(b[among], minlength=n_models)
        wins = (np.bincount(a[among], weights=outcome[among], minlength=n_models)
                + np.bincount(b[among], weights=1 - outcome[among], minlength=n_models))
        ok = keep & (battles >= max(min_battles, 1)) & (wins > 0) & (wins < battles)
        if (ok == keep).all():
            break
        keep = ok
    among = keep[a] & keep[b]
    graph = sparse.coo_matrix((np.ones(among.sum()), (a[among], b[among])), shape=(n_models, n_models))
    _, label = connected_components(graph, directed=False)
    if keep.any():
        largest = np.bincount(label[keep]).argmax()
        keep &= label == largest
    return keep


def rank_range(low: pd.Series, high: pd.Series) -> pd.DataFrame:
    """Chatbot Arena's ranks from intervals: `rank` (its upper bound) = 1 + the models whose lower
    end is above this one's upper end; `rank_high` = the models whose upper end is not below this
    one's lower end: every rank the model can take within the intervals."""
    lo, hi = low.to_numpy(), high.to_numpy()
    better = (lo[None, :] > hi[:, None]).sum(axis=1)
    not_worse = (hi[None, :] >= lo[:, None]).sum(axis=1)
    return pd.DataFrame({"rank": 1 + better, "rank_high": not_worse}, index=low.index)


def ratings_of(battles: pd.DataFrame, covariates, names: list[str], config):
    """The model rows of one fit (rated and listed) and its covariates' bootstrap summaries, from
    `battles` (model_a, model_b, winner) and a covariate matrix (a row per battle) or None; `config`
    has bootstrap_rounds, seed, min_battles and anchor (assets/arena/config.py: RatingsConfig)."""
    models = sorted(set(battles.model_a) | set(battles.model_b))
    index = {m: i for i, m in enumerate(models)}
    a, b = battles.model_a.map(index).to_numpy(), battles.model_b.map(index).to_numpy()
    outcome = battles.winner.map({"model_a": 1.0, "model_b": 0.0}).fillna(0.5).to_numpy()
    counts = pd.DataFrame({
        "model": models,
        "battles": np.bincount(a, minlength=len(models)) + np.bincount(b, minlength=len(models)),
        "wins": np.bincount(a, outcome == 1, len(models)) + np.bincount(b, outcome == 0, len(models)),
        "losses": np.bincount(a, outcome == 0, len(models)) + np.bincount(b, outcome == 1, len(models)),
    })
    counts["ties"] = counts.battles - counts.wins - counts.losses
    keep = rated(a, b, outcome, len(models), config.min_battles)
    kept = [m for m, k in zip(models, keep) if k]
    rows = counts.assign(rated=keep, rating=np.nan, ci_low=np.nan, ci_high=np.nan, rank=pd.NA, rank_high=pd.NA)
    anchor = config.anchor if config.anchor in kept else None
    among = keep[a] & keep[b]
    if len(kept) < 2 or not among.any():
        return rows, pd.DataFrame(columns=FIT_COEFFICIENT_COLUMNS)
    sub = {m: i for i, m in enumerate(kept)}
    x = None if covariates is None else covariates[np.flatnonzero(among)]
    full, boot_r, boot_c = bootstrap(
        battles.model_a[among].map(sub).to_numpy(), battles.model_b[among].map(sub).to_numpy(), outcome[among],
        kept, x, names, anchor, config.bootstrap_rounds, config.seed)
    low, high = boot_r.quantile(0.025), boot_r.quantile(0.975)
    ranks = rank_range(low, high)
    at = rows.model.isin(kept)
    rows.loc[at, "rating"] = full.ratings[rows.model[at]].to_numpy()
    rows.loc[at, "ci_low"], rows.loc[at, "ci_high"] = low[rows.model[at]].to_numpy(), high[rows.model[at]].to_numpy()
    rows.loc[at, "rank"], rows.loc[at, "rank_high"] = ranks["rank"][rows.model[at]].to_numpy(), ranks["rank_high"][rows.model[at]].to_numpy()
    coefficients = pd.DataFrame({"covariate": names, "coefficient": full.coefficients.to_numpy(),
                                 "se": boot_c.std(ddof=1).to_numpy() if len(names) else [],
                                 "ci_low": boot_c.quantile(0.025).to_numpy() if len(names) else [],
                                 "ci_high": boot_c.quantile(0.975).to_numpy() if len(names) else [],
                                 "battles": int(among.sum())})
    return rows, coefficients
