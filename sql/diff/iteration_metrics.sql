-- How well each classifier prompt tells A from B, per stage (loop, final, and the baselines
-- length_baseline and lexical_baseline), iteration and split; the headline is the `unseen` split, rows the describer never saw.
-- A row's predicted side is diff.all_predictions' `predicted`. Abstentions (neither token among the 20
-- likeliest, in both label orders) are counted and left out of the metrics. Accuracy has a
-- Wilson 95% interval and an exact two-sided binomial test against 50%; AUROC is the
-- Mann-Whitney statistic with average ranks for ties, with Hanley and McNeil's (1982) standard
-- error and a normal 95% interval clipped to [0, 1]; log-loss clips P(A) to [eps, 1 - eps].
WITH labelled AS (
    SELECT stage, iteration, split, p_a, abstained, predicted, CASE WHEN side = 'A' THEN 1 ELSE 0 END AS is_a
    FROM diff.all_predictions
),

answered AS (
    SELECT * FROM labelled WHERE NOT abstained
),

ranked AS (
    SELECT
        *,
        rank() OVER (PARTITION BY stage, iteration, split ORDER BY p_a)
            + (count(*) OVER (PARTITION BY stage, iteration, split, p_a) - 1) / 2.0 AS p_rank
    FROM answered
),

scored AS (
    SELECT
        stage, iteration, split,
        count(*) AS n,
        sum(is_a) AS n_a,
        count(*) FILTER (WHERE predicted = 'A' AND is_a = 1) AS true_a,
        count(*) FILTER (WHERE predicted = 'B' AND is_a = 1) AS false_b,
        count(*) FILTER (WHERE predicted = 'A' AND is_a = 0) AS false_a,
        count(*) FILTER (WHERE predicted = 'B' AND is_a = 0) AS true_b,
        avg(power(p_a - is_a, 2)) AS brier,
        -avg(is_a * ln(greatest(p_a, 2.220446049250313e-16))
             + (1 - is_a) * ln(greatest(1 - p_a, 2.220446049250313e-16))) AS log_loss,
        avg(greatest(p_a, 1 - p_a)) AS mean_confidence,
        (sum(p_rank) FILTER (WHERE is_a = 1) - sum(is_a) * (sum(is_a) + 1) / 2.0)
            / nullif(sum(is_a) * (count(*) - sum(is_a)), 0) AS auroc
    FROM ranked
    GROUP BY ALL
),

abstentions AS (
    SELECT stage, iteration, split, count(*) AS n_rows, count(*) FILTER (WHERE abstained) AS n_abstained
    FROM labelled
    GROUP BY ALL
),

with_accuracy AS (
    SELECT
        *,
        (true_a + true_b) / n AS accuracy,
        -- Hanley-McNeil: Q1 = A / (2 - A), Q2 = 2 A^2 / (1 + A), over n_a positives and n - n_a negatives
        sqrt((auroc * (1 - auroc) + (n_a - 1) * (auroc / (2 - auroc) - auroc * auroc)
              + (n - n_a - 1) * (2 * auroc * auroc / (1 + auroc) - auroc * auroc))
             / nullif(n_a * (n - n_a), 0)) AS auroc_se
    FROM scored
)

SELECT
    a.stage, a.iteration, a.split, a.n_rows, a.n_abstained,
    s.n, s.n_a, s.true_a, s.false_b, s.false_a, s.true_b,
    s.accuracy,
    wilson_low(s.true_a + s.true_b, s.n) AS accuracy_ci_low,
    wilson_high(s.true_a + s.true_b, s.n) AS accuracy_ci_high,
    least(1.0, 2 * binom_sf(greatest(s.true_a + s.true_b, s.n - s.true_a - s.true_b) - 1, s.n, 0.5))
        AS binomial_p_value,
    s.auroc,
    greatest(0.0, s.auroc - norm_ppf(0.975) * s.auroc_se) AS auroc_ci_low,
    least(1.0, s.auroc + norm_ppf(0.975) * s.auroc_se) AS auroc_ci_high,
    s.brier, s.log_loss, s.mean_confidence
FROM abstentions AS a
LEFT JOIN with_accuracy AS s USING (stage, iteration, split)
ORDER BY a.stage, a.iteration, a.split
