"""Where the calibration labels are thin, and what bounds the truth there (no I/O, no Dagster).

Isotonic regression is flat beyond the labelled judge scores and unreliable in its tails (its end
blocks are the least and greatest of running means, biased towards the extremes), and neither the
SE nor a bootstrap that refits the calibrator sees that error (every refit is flat there too). What
calibration already assumes, a judge monotone in the oracle, bounds it. Let k = max(10,
sqrt(n_labels)) and [s_lo, s_hi] the scores of the k-th lowest and k-th highest label (the
supported range). Below s_lo the truth lies in [0, U], U the mean label of the next k labels up (>=
f(s_lo) in expectation); above s_hi in [L, 1], L likewise. A row averaged with mass a and reward r
there moves the value by at most a r down and a (U - r) up (mirrored above), which gives an
identified interval [v - down, v + up]; the CI is Imbens and Manski's (2004) for a partially
identified value: that interval widened by c * se, c solving T(c + width / se) - T(-c) = 0.95,
clipped to [0, 1]. Where more than half of the mass is outside the supported range the point
estimate is withheld (NaN, with the reason) and the interval is still given. IPS-type estimators
average rewards over logged rows with their weights; direct and DR over the policy's fresh draws
(DR's correction term, R - q, is flat in both parts there and carries none of it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
