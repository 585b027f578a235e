"""95% CIs of the DR and direct estimators cover a known truth in 90-99% of 200 seeds, also where
the target's judge scores lie partly outside the labelled range (or the estimate is withheld); the
IPS family's under heavy-tailed weights cover, or are withheld; the augmented direct estimate of a
policy with labels of its own and the refit bootstrap's interval cover."""

import numpy as np
import pytest

from analysis.cje_estimators import IPS_FAMILY, estimate_policy
from tests.cje.simulation import simulate, true_value

SEEDS = 200


def coverage(target_temp: float, label_min: float = 0.0) -> dict[str, dict]:
    truth = true_value(target_temp=target_temp)
    out = {name: {"covered": 0, "withheld": 0, "errors": [], "share": [], "width": [], "limit": []}
           for name in ("dr", "direct")}
    for seed in range(SEEDS):
        est = estimate_policy(simulate(seed, target_temp=target_temp, label_min=label_min))
        for name, o in out.items():
            e = est[name]
            o["covered"] += e.ci_low <= truth <= e.ci_high
            o["withheld"] += e.reason is not None
            o["share"].append(e.extrapolated_share)
            o["width"].append(e.ci_high - e.ci_low)
            # what the interval may span: the extrapolated share's reward mass (each reward in [0, 1])
            # and the sampling error on both sides (the Manski quantile is below t(0.975, 5) = 2.57)
            o["limit"].append(e.extrapolated_share + 2 * 2.58 * e.se)
            if e.reason is None:
                o["errors"].append(e.v_hat - truth)
    print(f"truth {truth:.4f}: " + "; ".join(
        f"{k} coverage {o['covered'] / SEEDS:.3f}, withheld {o['withheld']}, mean share outside "
        f"{np.mean(o['share']):.3f}, mean CI width {np.mean(o['width']):.3f}, mean error {np.mean(o['errors']) if o['errors'] else float('nan'):.4f}"
        for k, o in out.items()))
    return out


def test_dr_and_direct_cis_cover_the_truth():
    for name, o in coverage(target_temp=0.2).items():
        rate = o["covered"] / SEEDS
        assert o["withheld"] == 0
        assert 0.90 <= rate <= 0.99, f"{name}: 95% CI covered the truth in {rate:.1%} of {SEEDS} seeds"


def test_cis_cover_the_truth_where_calibration_extrapolates():
    """A target that prefers poor answers; labels only on logged rows the judge scores 0.25 or more:
    a third of the target's scores lie below the supported range. Without the monotone bound the
    DR and direct CIs covered in 89% of seeds (the isotonic fit is flat there, and biased low
    at its end)."""
    for name, o in coverage(target_temp=-0.5, label_min=0.25).items():
        rate = o["covered"] / SEEDS
        assert 0.25 < np.mean(o["share"]) < 0.5 and o["withheld"] < SEEDS // 10
        assert 0.90 <= rate <= 0.99, f"{name}: 95% CI covered the truth in {rate:.1%} of {SEEDS} seeds"


def test_mostly_extrapolated_estimates_are_withheld_with_an_interval_that_covers():
    """Labels only above 0.5: most of the target's scores lie below them. No point estimate, a reason,
    and the interval the monotone bound leaves, which covers the truth (it claims no more)."""
    for name, o in coverage(target_temp=-0.2, label_min=0.5).items():
        assert o["withheld"] == SEEDS and o["covered"] / SEEDS >= 0.95, (name, o["covered"])
        # and no wider than the unknown mass and the sampling error allow; where the data say
        # something (the limit under 1), the interval is narrower than [0, 1]
        width, limit = np.array(o["width"]), np.array(o["limit"])
        print(f"{name}: {np.mean(width < 1):.0%} of withheld intervals narrower than [0, 1], "
              f"{np.mean(limit < 1):.0%} of limits under 1")
        assert (width <= limit + 1e-12).all() and (width[limit < 1] < 1).all(), name


def ips_family_coverage(sigma: float) -> dict[str, dict]:
    """Each IPS-family estimator over SEEDS seeds of log-normal weights of scale `sigma`: how often
    it gave an interval (with a point estimate, or the bound left where labels are thin), and of
    those how many covered the truth (a Monte Carlo value of 2M rows)."""
    from tests.cje.simulation import heavy_truth, simulate_heavy

    truth = heavy_truth(sigma)
    out = {name: {"given": 0, "covered": 0} for name in IPS_FAMILY}
    for seed in range(SEEDS):
        est = estimate_policy(simulate_heavy(seed, sigma))
        for name, o in out.items():
            e = est[name]
            if np.isfinite(e.ci_low):
                o["given"] += 1
                o["covered"] += bool(e.ci_low <= truth <= e.ci_high)
            else:  # withheld by the weights' rule: no number, no interval
                assert e.reason and np.isnan(e.v_hat) and np.isnan(e.ci_high) and np.isnan(e.se)
    print(f"sigma {sigma}: " + "; ".join(f"{k} given {o['given']}, covered {o['covered']}" for k, o in out.items()))
    return out


@pytest.mark.parametrize("sigma", [1.0, 1.25])
def test_ips_family_intervals_given_under_heavy_weights_cover(sigma):
    """Log-normal weights, ESS 27-41% of n: the intervals that are given cover in 90-99% of the
    seeds that give one (and most seeds give one)."""
    for name, o in ips_family_coverage(sigma).items():
        assert o["given"] >= SEEDS // 3, (name, o)
        rate = o["covered"] / o["given"]
        assert 0.90 <= rate <= 0.99, f"{name}: covered in {rate:.1%} of the {o['given']} seeds that gave an interval"


@pytest.mark.parametrize("sigma", [1.5, 2.0])
def test_ips_family_under_heavier_weights_is_withheld_not_wrong(sigma):
    """Heavier tails (ESS 7-17% of n, tail index near or below 2): the t interval no longer holds
    (without the rule, snips covered in 80% and ips in 67% of seeds at these scales), so most seeds
    withhold, and an interval that is given and misses happens in at most 5% of all seeds."""
    for name, o in ips_family_coverage(sigma).items():
        missed = o["given"] - o["covered"]
        assert o["given"] <= SEEDS // 4, (name, o)
        assert missed <= 0.05 * SEEDS, f"{name}: {missed} of {SEEDS} seeds gave an interval that missed"


def test_the_rule_withholds_where_the_weights_fail_and_keeps_light_weights():
    """The thresholds themselves, derived here from their definitions: one weight of 1000 among 999
    of 1 has ESS (1999^2 / (1000^2 + 999)) = 3.99 rows; equal weights have ESS n and an infinite
    tail index; an estimate above 1 (mean weight 3) is outside the reward's range."""
    from analysis.cje_estimators import hill_tail_index, kish_ess, weights_cannot_carry
    from analysis.cje_intervals import Estimate

    w = np.r_[1000.0, np.ones(999)]
    assert kish_ess(w) == pytest.approx(1999 ** 2 / (1000 ** 2 + 999), rel=1e-12)
    assert kish_ess(np.ones(50)) == pytest.approx(50) and hill_tail_index(np.ones(50)) == np.inf
    pareto = np.random.default_rng(0).pareto(1.5, 20_000) + 1  # tail index 1.5 by construction
    assert hill_tail_index(pareto) == pytest.approx(1.5, abs=0.25)

    def estimate(v):
        return Estimate("ips", v, 0.01, 0.01, 0.0, 1000, 999.0, v - 0.02, v + 0.02, np.array([]), np.array([]), np.array([]))

    assert weights_cannot_carry(estimate(0.5), kish_ess(w), hill_tail_index(w), 1000).reason.startswith("effective sample size 4.0")
    assert "outside the reward's range" in weights_cannot_carry(estimate(3.0), 1000.0, np.inf, 1000).reason
    assert weights_cannot_carry(estimate(0.5), 900.0, 5.0, 1000).reason is None


def test_augmented_direct_and_the_refit_bootstrap_cover_the_truth():
    """A policy with labels of its own (a tenth of its 1,000 draws), calibrated on them: the
    augmented direct estimate's interval (influence function + jackknife) and the cluster
    bootstrap's percentile interval with the calibrator refitted in every replicate each cover
    the truth in 90-99% of 200 seeds."""
    from analysis.cje_bootstrap import bootstrap_direct
    from tests.cje.simulation import simulate_own_labels

    truth = true_value(target_temp=0.2)
    analytic = bootstrap = 0
    for seed in range(SEEDS):
        data, (X, y, label_ids, label_folds), draws = simulate_own_labels(seed, n=1000, label_fraction=0.1)
        e = estimate_policy(data)["direct"]
        assert e.route == "augmented" and e.reason is None and e.own_labels == int((~np.isnan(draws.labels)).sum())
        analytic += e.ci_low <= truth <= e.ci_high
        b = bootstrap_direct(X, y, label_ids, label_folds, {"p": draws}, "isotonic", 5, 200, seed).summary().iloc[0]
        bootstrap += b.ci_low <= truth <= b.ci_high
    print(f"truth {truth:.4f}: augmented covered {analytic / SEEDS:.3f}, refit bootstrap {bootstrap / SEEDS:.3f}")
    for name, covered in (("augmented", analytic), ("bootstrap", bootstrap)):
        assert 0.90 <= covered / SEEDS <= 0.99, f"{name}: covered the truth in {covered / SEEDS:.1%} of {SEEDS} seeds"
