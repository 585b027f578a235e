"""An estimate with its SE, degrees of freedom and interval, from an influence function and the
oracle jackknife's replicates (no I/O, no Dagster): the part every CJE estimator shares
(analysis/cje_estimators.py has the notation)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

WITHHOLD_SHARE = 0.5  # more of an estimate's mass than this outside the supported range: no estimate


@dataclass
class Estimate:
    estimator: str
    v_hat: float
    se: float
    se_if: float
    se_oracle: float
    n: int
    df: float  # Welch-Satterthwaite degrees of freedom of se
    ci_low: float
    ci_high: float
    prompt_ids: np.ndarray  # the rows (or prompts) the influence function is over
    influence: np.ndarray
    jackknife: np.ndarray   # v_hat of each delete-one-fold replicate
    reason: str | None = None  # why the estimate is NaN, when it is
    extrapolated_share: float = 0.0  # of the reward mass outside the supported judge range
    bound_below: float = 0.0  # how far below v_hat the value may lie from that alone
    bound_above: float = 0.0
    route: str | None = None  # direct: plug_in (the calibrated mean) or augmented (plus the own labels' residual)
    own_labels: int = 0       # augmented: the labelled draws the residual is the mean of
    se_labelled: float = 0.0  # augmented: the part of se_if the residual correction adds (it shrinks with labels)


def manski_quantile(width_in_se: float, df: float, level: float = 0.95) -> float:
    """Imbens-Manski: c with T(c + width/se) - T(-c) = level, which covers every point of an
    identified interval of that width with probability `level` (t quantile when the width is 0)."""
    t = stats.t(df)
    if width_in_se <= 0:
        return float(t.ppf(0.5 + level / 2))
    return float(optimize.brentq(lambda c: t.cdf(c + width_in_se) - t.cdf(-c) - level, 0.0, t.ppf(0.5 + level / 2)))


def _finish(name, v, influence, replicates, prompt_ids, reason=None,
            bounds: tuple[float, float, float] = (0.0, 0.0, 0.0), support_k: int = 0,
            labelled: np.ndarray | None = None) -> Estimate:
    """The estimate with its SE (influence-function variance plus the oracle jackknife's), Welch
    degrees of freedom and CI. `labelled`: for an augmented estimate, which entries of the
    influence function (prompts) hold the labels its residual correction averages; their part of
    the variance is inflated by n_L / (n_L - 1) and the interval takes min(n_L - 1, both Welch
    dfs) degrees of freedom (the correction is a mean fitted on n_L clusters; cje-eval 0.9's rule)."""
    n = len(influence)
    if reason is not None or n == 0 or not np.isfinite(v):
        nan = float("nan")
        return Estimate(name, nan, nan, nan, nan, n, nan, nan, nan, prompt_ids, influence,
                        np.asarray(replicates, float), reason or "no rows")
    var_if = float(np.var(influence, ddof=1) / n) if n > 1 else float("nan")
    k = len(replicates)
    var_oracle = (k - 1) / k * float(np.sum((replicates - np.mean(replicates)) ** 2)) if k > 1 else 0.0
    df = satterthwaite_df(var_if, n - 1, var_oracle, k - 1)
    if labelled is not None:
        n_l = int(labelled.sum())
        if n_l < 2:
            nan = float("nan")
            return Estimate(name, float(v), nan, nan, nan, n, nan, nan, nan, prompt_ids, influence,
                            np.asarray(replicates, float), f"{n_l} labelled prompt of its own: no interval "
                            "for a residual correction fitted on it (label at least 2)")
        v_labelled = float(np.sum(influence[labelled] ** 2) / (n * (n - 1)))
        var_if = v_labelled * n_l / (n_l - 1) + float(np.sum(influence[~labelled] ** 2) / (n * (n - 1)))
        df = min(n_l - 1, df, satterthwaite_df(var_if, n_l - 1, var_oracle, k - 1))
    se = float(np.sqrt(var_if + var_oracle))
    below, above, share = bounds
    half = manski_quantile((below + above) / se if se > 0 else np.inf, df) * se
    low, high = max(0.0, float(v - below - half)), min(1.0, float(v + above + half))  # values on the oracle's [0, 1]
    withheld = None
    if share > WITHHOLD_SHARE:
        withheld = (f"{share:.0%} of this estimate's judge scores lie where calibration has too few labels "
                    f"(beyond the {support_k} lowest or highest labelled scores): no point estimate; under "
                    f"a judge monotone in the oracle the value lies in [{low:.3f}, {high:.3f}] (95%)")
    return Estimate(name, float("nan") if withheld else float(v), se, float(np.sqrt(var_if)),
                    float(np.sqrt(var_oracle)), n, df, low, high, prompt_ids, influence,
                    np.asarray(replicates, float), withheld, share, below, above)


def satterthwaite_df(var_a: float, df_a: float, var_b: float, df_b: float) -> float:
    """Degrees of freedom of var_a + var_b (each estimated with its own df)."""
    denominator = (var_a ** 2 / df_a if df_a > 0 else 0.0) + (var_b ** 2 / df_b if df_b > 0 else 0.0)
    return float((var_a + var_b) ** 2 / denominator) if denominator > 0 else float("inf")
