"""Do the behaviours predict the outcome? Held-out predictions on a split no fit saw, for two
tasks (VibeCheck's questions):

- `winner`: which side wins a decided battle, from the models' identities alone (a Bradley-Terry
  fit, analysis/ratings.py), then with the style covariates, then with the behaviour clusters too;
- `identity`: which model wrote a response, from its style features, then with the behaviour
  clusters it shows (a multinomial logistic regression), beside the majority class.

Each returns one row per held-out item: whether the prediction was right and its log-loss, so
that the accuracy, its interval and the paired comparison of two feature sets are SQL
(arena.preference_prediction). For prediction the fits carry a ridge penalty (C = 1): a model with
only wins in the training battles would otherwise get an infinite rating, and an infinite
log-loss on the one battle it loses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from analysis.ratings import design

EPS = 1e-15


def held_out(ids: pd.Series, fraction: float, seed: int) -> np.ndarray:
    """A seeded share of the items held out of every fit, chosen by id (whatever their order)."""
    order = np.argsort(ids.to_numpy(), kind="stable")
    chosen = np.random.default_rng(seed).permutation(len(ids))[: round(fraction * len(ids))]
    test = np.zeros(len(ids), dtype=bool)
    test[order[chosen]] = True
    return test


def winner_outcomes(a: np.ndarray, b: np.ndarray, won_a: np.ndarray, n_models: int, covariates, test: np.ndarray,
                    ids: np.ndarray) -> pd.DataFrame:
    """Decided battles only (`won_a` 1 or 0): fit on the others, predict P(A wins) on `test`."""
    x = design(a, b, n_models, covariates)
    train = ~test
    lr = LogisticRegression(fit_intercept=False, C=1.0, max_iter=1000).fit(x[train], won_a[train])
    p = np.clip(lr.predict_proba(x[test])[:, 1], EPS, 1 - EPS)
    truth = won_a[test]
    return pd.DataFrame({"item_id": ids[test], "truth": np.where(truth == 1, "model_a", "model_b"),
                         "correct": (p >= 0.5) == (truth == 1),
                         "log_loss": -(truth * np.log(p) + (1 - truth) * np.log(1 - p))})


def identity_outcomes(features, labels: np.ndarray, test: np.ndarray, ids: np.ndarray) -> pd.DataFrame:
    """Which model wrote each held-out response; features None: the majority class of the training
    responses (with its training frequency as the probability)."""
    train = ~test
    classes, counts = np.unique(labels[train], return_counts=True)
    if features is None:
        proba = np.tile(counts / counts.sum(), (test.sum(), 1))
    else:
        lr = LogisticRegression(C=1.0, max_iter=2000).fit(features[train], labels[train])
        proba = lr.predict_proba(features[test])
        classes = lr.classes_
    truth = labels[test]
    at = pd.Index(classes).get_indexer(truth)
    p_true = np.where(at >= 0, proba[np.arange(len(truth)), np.clip(at, 0, None)], EPS)
    return pd.DataFrame({"item_id": ids[test], "truth": truth, "correct": classes[proba.argmax(axis=1)] == truth,
                         "log_loss": -np.log(np.clip(p_true, EPS, 1))})


def presence_matrix(rows: pd.DataFrame, items: list[str], keys: pd.Index, key: str, column: str):
    """A sparse 0/1 matrix: rows `keys` (by `rows[key]`), a column per item of `rows[column]`."""
    r = keys.get_indexer(rows[key])
    c = pd.Index(items).get_indexer(rows[column])
    keep = (r >= 0) & (c >= 0)
    return sparse.csr_matrix((np.ones(keep.sum()), (r[keep], c[keep])), shape=(len(keys), len(items)))
