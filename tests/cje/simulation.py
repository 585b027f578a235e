"""Synthetic logged data with a known truth, for coverage tests of the CJE estimators.

Each prompt has A candidate responses with a latent quality S in (0, 1), which the judge
reports. The oracle is Bernoulli(f(S)) with f monotone, so E[oracle | S] = f(S) under any policy
(the judge is a sufficient surrogate, the assumption calibration rests on). The base policy and
the target policy are softmax policies over the candidates' qualities.
"""

import numpy as np

from analysis.cje_bootstrap import Draws
from analysis.cje_calibration import Folds, fit_calibration
from analysis.cje_estimators import PolicyData

A = 5


def f(s):
    return 1 / (1 + np.exp(-6 * (s - 0.5)))


def _prompts(rng, n):
    base = rng.uniform(0.2, 0.8, size=(n, 1))
    return np.clip(base + rng.normal(0, 0.15, size=(n, A)), 0.01, 0.99)  # quality of each candidate


def _policy(quality, temperature):
    logits = quality / temperature
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def true_value(target_temp: float, n: int = 400_000, seed: int = 12345) -> float:
    quality = _prompts(np.random.default_rng(seed), n)
    return float((_policy(quality, target_temp) * f(quality)).sum(axis=1).mean())


def simulate(seed: int, n: int = 500, label_fraction: float = 0.3, base_temp: float = 0.5,
             target_temp: float = 0.2, n_folds: int = 5, label_min: float = 0.0) -> PolicyData:
    """The target policy's data, calibrated on the labelled logged rows. `label_min`: only logged
    rows whose judge score is at least this get labels (the labels cover part of the judge's range,
    and calibration extrapolates below it). A negative `target_temp` prefers poor candidates."""
    rng = np.random.default_rng(seed)
    quality = _prompts(rng, n)
    p0, p1 = _policy(quality, base_temp), _policy(quality, target_temp)
    rows = np.arange(n)
    logged = np.array([rng.choice(A, p=p) for p in p0])
    fresh = np.array([rng.choice(A, p=p) for p in p1])
    s_logged = quality[rows, logged]
    ids = np.array([f"p{seed}_{i}" for i in range(n)], dtype=object)
    labelled = (rng.random(n) < label_fraction) & (s_logged >= label_min)
    oracle = (rng.random(n) < f(s_logged)).astype(float)
    folds = Folds.of_labels(ids[labelled], n_folds)
    cal = fit_calibration(s_logged[labelled], oracle[labelled], folds(ids[labelled]), n_folds)
    return PolicyData.calibrated(cal, folds, ids, p1[rows, logged] / p0[rows, logged], s_logged,
                                 ids, quality[rows, fresh])


def heavy_truth(sigma: float, rho: float = 0.6, n: int = 2_000_000, seed: int = 999) -> float:
    """E_pi[f(S)] = E_0[w f(S)] of simulate_heavy's target, by a large Monte Carlo sample."""
    s, w = _heavy_draws(np.random.default_rng(seed), n, sigma, rho)
    return float(np.mean(w * f(s)))


def _heavy_draws(rng, n: int, sigma: float, rho: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy import stats

    s = rng.uniform(0.01, 0.99, size=n)
    z = rho * stats.norm.ppf(s) + np.sqrt(1 - rho ** 2) * rng.normal(size=n)
    return s, np.exp(sigma * z - sigma ** 2 / 2)  # log-normal weights, mean 1, heavier with sigma


def simulate_heavy(seed: int, sigma: float, n: int = 500, label_fraction: float = 0.3, rho: float = 0.6,
                   n_folds: int = 5) -> PolicyData:
    """Logged rows whose importance weights are log-normal with scale `sigma` (mean one; ESS share
    about exp(-sigma^2)) and grow with the judge score (correlation `rho` on the normal scale): the
    heavy-tailed case, where a few rows carry an IPS estimate. No fresh draws."""
    rng = np.random.default_rng(seed)
    s, w = _heavy_draws(rng, n, sigma, rho)
    ids = np.array([f"h{seed}_{i}" for i in range(n)], dtype=object)
    labelled = rng.random(n) < label_fraction
    oracle = (rng.random(n) < f(s)).astype(float)
    folds = Folds.of_labels(ids[labelled], n_folds)
    cal = fit_calibration(s[labelled], oracle[labelled], folds(ids[labelled]), n_folds)
    return PolicyData.calibrated(cal, folds, ids, w, s)


def simulate_own_labels(seed: int, n: int = 400, label_fraction: float = 0.25, temp: float = 0.2,
                        n_folds: int = 5, mode: str = "isotonic"):
    """A policy evaluated on its own fresh draws (one per prompt), a random `label_fraction` of
    them labelled by the oracle, the judge calibrated on exactly those labels (cje-eval 0.9's
    direct mode on a partly labelled policy): the augmented route. Its truth is
    true_value(temp). Returns the policy's data and, for the bootstrap, the labels and draws."""
    rng = np.random.default_rng(seed)
    quality = _prompts(rng, n)
    chosen = np.array([rng.choice(A, p=p) for p in _policy(quality, temp)])
    s = quality[np.arange(n), chosen]
    ids = np.array([f"o{seed}_{i}" for i in range(n)], dtype=object)
    labelled = rng.random(n) < label_fraction
    oracle = (rng.random(n) < f(s)).astype(float)
    folds = Folds.of_labels(ids[labelled], n_folds)
    cal = fit_calibration(s[labelled], oracle[labelled], folds(ids[labelled]), n_folds, mode=mode)
    labels = np.where(labelled, oracle, np.nan)
    none = np.array([])
    data = PolicyData.calibrated(cal, folds, none.astype(object), none, none, ids, s, fresh_labels=labels)
    draws = Draws(s[:, None], ids, folds(ids), labels)
    return data, (s[labelled][:, None], oracle[labelled], ids[labelled], folds(ids[labelled])), draws
