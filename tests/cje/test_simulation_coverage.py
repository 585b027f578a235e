"""95% CIs of the DR and direct estimators cover a known truth in 90-99% of 200 seeds."""

import numpy as np

from analysis.cje_estimators import estimate_policy
from tests.cje.simulation import simulate, true_value

SEEDS = 200


def test_dr_and_direct_cis_cover_the_truth():
    truth = true_value(target_temp=0.2)
    covered = {"dr": 0, "direct": 0}
    errors = {"dr": [], "direct": []}
    for seed in range(SEEDS):
        est = estimate_policy(simulate(seed))
        for name in covered:
            e = est[name]
            covered[name] += e.ci_low <= truth <= e.ci_high
            errors[name].append(e.v_hat - truth)
    rates = {k: v / SEEDS for k, v in covered.items()}
    print(f"truth {truth:.4f}; coverage {rates}; mean error "
          f"{ {k: round(float(np.mean(v)), 4) for k, v in errors.items()} }")
    for name, rate in rates.items():
        assert 0.90 <= rate <= 0.99, f"{name}: 95% CI covered the truth in {rate:.1%} of {SEEDS} seeds"
