-- What each covariate of the overall rating fits is worth in preference, the models' strength
-- held fixed: its coefficient (log-odds of winning per unit: per standard deviation of a style
-- difference, or per behaviour shown by one side only), the bootstrap standard error and
-- percentile interval, a two-sided p-value from the bootstrap SE (normal), and Holm across the
-- covariates of one fit (control).
WITH tested AS (
    SELECT *, 2 * norm_sf(abs(coefficient / nullif(se, 0))) AS p_value
    FROM arena.rating_coefficients
)

SELECT
    control, covariate, coefficient, se, ci_low, ci_high, battles, p_value,
    holm(p_value, list(p_value) OVER (PARTITION BY control)) AS p_holm
FROM tested
ORDER BY control, p_value NULLS LAST, covariate
