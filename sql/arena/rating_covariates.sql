-- What each covariate of the overall rating fits is worth in preference, the models' strength
-- held fixed: its coefficient (log-odds of winning per unit: per standard deviation of a style
-- difference, or per behaviour shown by one side only), the bootstrap standard error and
-- percentile interval, a two-sided p-value from the bootstrap SE (normal), and Holm across the
-- covariates of one fit (control).
WITH tested AS (
    SELECT *, 2 * norm_sf(abs(coefficient / nullif(se, 0))) AS p_value
    FROM arena.rating_coefficients
),

ranked AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY control ORDER BY p_value NULLS LAST, covariate) AS p_rank,
        count(p_value) OVER (PARTITION BY control) AS m
    FROM tested
)

SELECT
    control, covariate, coefficient, se, ci_low, ci_high, battles, p_value,
    CASE WHEN p_value IS NOT NULL THEN least(1, max((m - p_rank + 1) * p_value) OVER (
        PARTITION BY control ORDER BY p_rank ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) END AS p_holm
FROM ranked
ORDER BY control, p_value NULLS LAST, covariate
