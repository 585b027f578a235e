"""The residual transport audit of cje-eval 0.9 (cje/diagnostics/transport.py), for one policy's
held-out oracle probes: does the judge's calibration, learned on other labels, carry over to it?

The probes' residuals r = oracle label - calibrated reward have mean delta with a prompt-cluster
sandwich SE (CRV1: G/(G-1) * sum over clusters of the summed centred residuals squared / n^2) and
a t interval with floor(effective clusters) - 1 degrees of freedom at level 1 - alpha/K (Bonferroni
over the K policies audited together). Against a declared margin delta_max:
  FAIL          the interval lies wholly outside [-delta_max, delta_max] (even on few clusters);
  INCONCLUSIVE  fewer effective clusters than the floor, or the interval crosses the margin;
  PASS          the interval lies within the margin;
  NOT_GRADED    no margin declared (delta_max 0);
  NOT_CHECKED   no probes (assigned by the caller).
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats

ACTIONS = {
    "FAIL": "do not reuse this calibration; collect target labels and refit",
    "PASS": "the mean residual is established within the declared margin",
    "NOT_GRADED": "declare a practical residual margin (delta_max) before using this audit as a gate",
    "NOT_CHECKED": "label a random probe slice of this policy's responses to audit the calibration's transport",
    "few_clusters": "collect more independent oracle-probe clusters",
    "crosses_margin": "collect more independent oracle-probe clusters to resolve the margin",
}


@dataclass
class Audit:
    status: str
    n_probes: int
    n_clusters: int
    effective_clusters: float
    mean_residual: float
    se: float
    ci_low: float
    ci_high: float
    action: str


def audit(residuals: np.ndarray, clusters: np.ndarray, delta_max: float, alpha: float, family_size: int,
          min_effective_clusters: float) -> Audit:
    n = len(residuals)
    delta = float(residuals.mean())
    _, inverse = np.unique(clusters, return_inverse=True)
    sizes = np.bincount(inverse)
    g, effective = len(sizes), float(n ** 2 / np.sum(sizes.astype(float) ** 2))
    if g < 2:
        se = float("inf")
    else:
        sums = np.bincount(inverse, weights=residuals - delta)
        se = float(np.sqrt(g / (g - 1) * np.sum(sums ** 2) / n ** 2))
    df = max(int(np.floor(effective)) - 1, 1)
    half = float(stats.t.ppf(1 - alpha / family_size / 2, df)) * se
    low, high = delta - half, delta + half
    if delta_max <= 0:
        status, action = "NOT_GRADED", ACTIONS["NOT_GRADED"]
    elif low > delta_max or high < -delta_max:
        status, action = "FAIL", ACTIONS["FAIL"]
    elif effective < min_effective_clusters:
        status, action = "INCONCLUSIVE", ACTIONS["few_clusters"]
    elif low >= -delta_max and high <= delta_max:
        status, action = "PASS", ACTIONS["PASS"]
    else:
        status, action = "INCONCLUSIVE", ACTIONS["crosses_margin"]
    return Audit(status, n, g, effective, delta, se, low, high, action)
