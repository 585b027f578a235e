"""Bradley-Terry ratings from pairwise battles, as Chatbot Arena fits them, on numpy arrays.

P(A beats B) = sigmoid(ln(10) (r_A - r_B) / 400 + x'beta): the likelihood of FastChat's
`compute_mle_elo` (a logistic regression with no intercept on +ln(10) for model A's indicator and
-ln(10) for model B's, no penalty, a tie one win each way and a win two), maximised by Newton's
method (`newton`; equal to scikit-learn's fit in tests/arena/test_ratings.py, and faster:
bench/ratings_scale.py),
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
from scipy import sparse, special

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


def _cells(a, b, outcome, weight, n_models):
    """Battles summed into their (A, B, outcome) cells: without covariates the likelihood is the same
    from a row per cell weighted by its count, as FastChat's `preprocess_for_bt` sums them."""
    code = (a * n_models + b) * 3 + np.round(outcome * 2).astype(int)
    cells, at = np.unique(code, return_inverse=True)
    return cells // 3 // n_models, cells // 3 % n_models, (cells % 3) / 2, np.bincount(at, weights=weight)


def newton(a, b, y, w, x, n_models: int, start: np.ndarray | None = None, tol: float = 1e-10,
           max_iter: int = 100) -> np.ndarray:
    """The maximum-likelihood coefficients of P(A wins) = sigmoid(ln 10 (c_a - c_b) + x'beta), a battle
    counted `w` times with result y in {0, 1/2, 1} (a tie half a win each way, so that the
    likelihood is FastChat's weighted logistic regression's), by Newton's method: the Hessian is only
    (models + covariates) square, built with bincounts in one pass over the battles, so each step
    costs a few passes and a warm-started bootstrap round two or three steps. The ratings' common
    shift, which the likelihood does not see, stays where it starts (the step is solved with the
    all-ones direction added to the Hessian, which leaves the steps orthogonal to it)."""
    log_base, m = math.log(BASE), n_models
    k = 0 if x is None else x.shape[1]
    params = np.zeros(m + k) if start is None else np.array(start, dtype=float)
    ones = np.r_[np.ones(m), np.zeros(k)]

    def logits(p):
        e = log_base * (p[a] - p[b])
        return e if x is None else e + x @ p[m:]

    def loglik(e):
        return float(np.sum(w * (y * e - np.logaddexp(0.0, e))))

    e = logits(params)
    current = loglik(e)
    for _ in range(max_iter):
        prob = special.expit(e)
        r, v = w * (y - prob), w * prob * (1 - prob)
        grad = np.empty(m + k)
        grad[:m] = log_base * (np.bincount(a, r, m) - np.bincount(b, r, m))
        hess = np.zeros((m + k, m + k))
        pair = np.bincount(a * m + b, v, m * m).reshape(m, m)
        hess[:m, :m] = log_base ** 2 * (np.diag(pair.sum(0) + pair.sum(1)) - pair - pair.T)
        if k:
            grad[m:] = x.T @ r
            vx = x * v[:, None]
            for j in range(k):
                hess[:m, m + j] = log_base * (np.bincount(a, vx[:, j], m) - np.bincount(b, vx[:, j], m))
            hess[m:, :m] = hess[:m, m:].T
            hess[m:, m:] = x.T @ vx
        try:
            step = np.linalg.solve(hess + np.outer(ones, ones), grad)
        except np.linalg.LinAlgError:  # a covariate that never varies (zeros): least squares keeps it at 0
            step = np.linalg.lstsq(hess + np.outer(ones, ones), grad, rcond=None)[0]
        e_new = logits(params + step)
        if np.abs(step).max() > 0.05:  # far from the optimum: halve the step until the likelihood does not fall
            new = loglik(e_new)
            while new < current - 1e-12 * abs(current) and np.abs(step).max() > 1e-12:
                step /= 2
                e_new = logits(params + step)
                new = loglik(e_new)
            current = new  # (near it, where warm-started rounds start, Newton's steps only climb)
        params, e = params + step, e_new
        if np.abs(step).max() < tol:
            break
    return params


def fit(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, models: list[str],
        covariates=None, covariate_names: list[str] = (), anchor: str | None = None,
        weight: np.ndarray | None = None, warm_start: np.ndarray | None = None) -> tuple[Fit, np.ndarray]:
    """Ratings (and covariate coefficients) from battles: `a`, `b` model indices into `models`,
    `outcome` 1 (A won), 0 (B won) or 0.5 (tie); `weight` a count per battle (the bootstrap's);
    `covariates` a matrix with a row per battle (dense or sparse). Returns the fit and the raw
    coefficient vector (to warm-start the next)."""
    weight = np.ones(len(a)) if weight is None else np.asarray(weight, dtype=float)
    if covariates is None or covariates.shape[1] == 0:
        ra, rb, y, w = _cells(a, b, outcome, weight, len(models))
        x = None
    else:
        ra, rb, y, w = a, b, outcome, weight
        x = covariates.toarray() if sparse.issparse(covariates) else np.asarray(covariates, dtype=float)
    # a win counts twice and a tie once each way in FastChat's regression: weight 2 at y in {0, 1/2, 1}
    coef = newton(ra, rb, y, 2 * w, x, len(models), warm_start)
    return Fit(pd.Series(elo(coef, models, anchor), index=models),
               pd.Series(coef[len(models):], index=list(covariate_names))), coef


def elo(coef: np.ndarray, models: list[str], anchor: str | None) -> np.ndarray:
    """The models' coefficients on the Elo scale, the anchor (or the mean) at 1000."""
    ratings = SCALE * coef[: len(models)] + INIT_RATING
    return ratings + INIT_RATING - (ratings[models.index(anchor)] if anchor else ratings.mean())


def bootstrap(a, b, outcome, models, covariates=None, covariate_names=(), anchor=None, rounds: int = 100,
              seed: int = 42) -> tuple[Fit, pd.DataFrame, pd.DataFrame]:
    """The full fit, and each bootstrap round's ratings and coefficients (rounds x models, x covariates):
    battles resampled with replacement as multinomial counts (seeded), so a round is the same fit
    with other weights."""
    full, coef = fit(a, b, outcome, models, covariates, covariate_names, anchor)
    rng = np.random.default_rng(seed)
    if covariates is None:
        # without covariates a battle is its (A, B, outcome) cell: resampling battles is drawing each
        # cell's count from the multinomial over cells (FastChat's `compute_bootstrap_bt` does the same),
        # a few thousand cells where there are a million battles
        n = len(a)
        a, b, outcome, counts = _cells(a, b, outcome, np.ones(n), len(models))
        p = counts / n
    else:
        n, p = len(a), np.full(len(a), 1 / len(a))
    x = None if covariates is None else covariates.toarray() if sparse.issparse(covariates) else covariates
    rows = []
    for _ in range(rounds):  # each round the same likelihood with other counts, from the full fit's optimum
        counts = rng.multinomial(n, p).astype(float)
        rows.append(newton(a, b, outcome, 2 * counts, x, len(models), coef))
    rows = np.array(rows).reshape(rounds, len(coef))
    ratings = pd.DataFrame([elo(r, models, anchor) for r in rows], columns=models)
    return full, ratings, pd.DataFrame(rows[:, len(models):], columns=list(covariate_names))


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
    models = sorted(pd.unique(pd.concat([battles.model_a, battles.model_b], ignore_index=True)))
    index = pd.Index(models)
    a, b = index.get_indexer(battles.model_a), index.get_indexer(battles.model_b)
    outcome = np.select([battles.winner.eq("model_a"), battles.winner.eq("model_b")], [1.0, 0.0], 0.5)
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
    sub = np.cumsum(keep) - 1  # a model's index among the kept ones
    x = None if covariates is None else covariates[np.flatnonzero(among)]
    full, boot_r, boot_c = bootstrap(sub[a[among]], sub[b[among]], outcome[among],
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
