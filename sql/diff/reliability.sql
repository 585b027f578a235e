-- Reliability of P(A): rows binned by predicted P(A) (ten bins of width 0.1), per stage and split,
-- with the mean prediction and the observed share of A in each bin (the calibration plot).
WITH labelled AS (
    SELECT stage, iteration, split, p_a, CASE WHEN side = 'A' THEN 1.0 ELSE 0.0 END AS is_a
    FROM diff.all_predictions
    WHERE stage IN ('final', 'length_baseline', 'lexical_baseline') AND NOT abstained
)

SELECT
    stage, split,
    least(floor(p_a * 10), 9)::INTEGER AS bin,
    count(*) AS n,
    avg(p_a) AS mean_predicted,
    avg(is_a) AS share_a
FROM labelled
GROUP BY ALL
ORDER BY stage, split, bin
