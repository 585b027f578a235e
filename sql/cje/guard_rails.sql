-- When not to trust the CJE estimates: one row per rule a policy, estimator or the calibration
-- breaks. Thresholds: fewer than 50 oracle labels or 10 per fold; judge-oracle Spearman below 0.5;
-- ESS below 10% of n; extreme weights (tail index below 2 or the top 5% of rows holding over half
-- the weight); a policy declared identical to the base whose weights are not all 1; flagged
-- log-probabilities; logged responses a policy cannot sample (weight 0); judge scores outside the
-- labelled range; an estimate withheld (too few labels where its judge scores lie, zero weight);
-- a CI that misses the oracle truth.
WITH calibration AS (
    SELECT * FROM cje.calibration_summary
),

weights AS (
    SELECT * FROM cje.weight_diagnostics
),

rules AS (
    SELECT 'few_oracle_labels' AS rule, 'calibration' AS subject, NULL AS estimator,
           n_labels::DOUBLE AS value, 50.0 AS threshold,
           format('{} oracle labels (fewest in a fold: {})', n_labels, min_labels_per_fold) AS message
    FROM calibration WHERE n_labels < 50 OR min_labels_per_fold < 10
    UNION ALL
    SELECT 'weak_judge', 'calibration', NULL, spearman, 0.5,
           format('judge-oracle Spearman {:.3f}', spearman)
    FROM calibration WHERE spearman < 0.5
    UNION ALL
    SELECT 'judge_outside_label_range', 'calibration', NULL, n_outside_label_range, 0,
           format('{} judge scores outside the labelled range [{}, {}]: calibration extrapolates',
                  n_outside_label_range, judge_min_labelled, judge_max_labelled)
    FROM calibration WHERE n_outside_label_range > 0
    UNION ALL
    SELECT 'low_ess', policy, NULL, ess_fraction, 0.10,
           format('ESS {:.2f}% of n', 100 * ess_fraction)
    FROM weights WHERE ess_fraction < 0.10 OR ess_fraction IS NULL
    UNION ALL
    SELECT 'extreme_weights', policy, NULL, max_weight, NULL,
           format('max weight {:.4g}, top 5% share {:.1f}%, tail index {:.2f}',
                  max_weight, 100 * top5_weight_share, hill_tail_index)
    FROM weights WHERE hill_tail_index < 2 OR top5_weight_share > 0.5
    UNION ALL
    SELECT 'identical_policy_not_identical', policy, NULL, share_weight_exactly_one, 1.0,
           format('declared identical to the base, but only {:.1f}% of weights are exactly 1 (largest deviation {:.3g})',
                  100 * share_weight_exactly_one, max_deviation_from_one)
    FROM weights WHERE declared_identical AND max_deviation_from_one > 0
    UNION ALL
    SELECT 'flagged_logprobs', policy, NULL, n_flagged, 0,
           format('{} rows with missing, NaN or positive log-probabilities, or a base log-probability of -inf, excluded',
                  n_flagged)
    FROM weights WHERE n_flagged > 0
    UNION ALL
    SELECT 'outside_sampling_support', policy, NULL, n_weight_zero, 0,
           format('{} of {} logged responses ({:.1f}%) are outside the policy''s sampling support (top-p / top-k): weight 0',
                  n_weight_zero, n, 100 * n_weight_zero / n)
    FROM weights WHERE n_weight_zero > 0 AND NOT policy = 'base'
    UNION ALL
    SELECT 'estimate_withheld', policy, estimator, extrapolated_share, 0.5, reason
    FROM cje.policy_estimates WHERE reason IS NOT NULL
    UNION ALL
    SELECT 'ci_misses_oracle_truth', policy, estimator, oracle_truth, NULL,
           format('95% CI [{:.3f}, {:.3f}] misses the oracle truth {:.3f} (n = {})',
                  ci_low, ci_high, oracle_truth, n_truth)
    FROM cje.policy_estimates WHERE covered = false
)

SELECT rule, subject, estimator, value, threshold, 'WARN' AS severity, message
FROM rules
ORDER BY rule, subject, estimator
