-- Every pair of policies, per estimator: the difference of their values; its standard error from
-- the paired influence functions (aligned by prompt; cje.paired_influence) plus the oracle-jackknife
-- variance of the difference; a two-sided p-value from Student's t with Welch-Satterthwaite degrees of freedom;
-- Holm-adjusted p-values (family: all pairs of one estimator) and Benjamini-Hochberg beside them.
WITH estimates AS (
    SELECT policy, estimator, v_hat
    FROM cje.policy_estimates
    WHERE isfinite(v_hat)
),

pairs AS (
    SELECT a.estimator, a.policy AS policy_a, b.policy AS policy_b, a.v_hat - b.v_hat AS diff
    FROM estimates AS a
    JOIN estimates AS b ON a.estimator = b.estimator AND a.policy < b.policy
),

paired_influence AS (
    -- var(IF_a - IF_b) / n over the prompts both have, from the estimator step
    SELECT estimator, policy_a, policy_b, n, var_if
    FROM cje.paired_influence
),

jackknife_differences AS (
    SELECT p.estimator, p.policy_a, p.policy_b, ja.fold, ja.v_hat - jb.v_hat AS d
    FROM pairs AS p
    JOIN cje.oracle_jackknife AS ja ON ja.policy = p.policy_a AND ja.estimator = p.estimator
    JOIN cje.oracle_jackknife AS jb
        ON jb.policy = p.policy_b AND jb.estimator = p.estimator AND jb.fold = ja.fold
),

oracle_variance AS (
    -- delete-one-fold jackknife: (K - 1)/K * sum (d_k - mean d)^2 = (K - 1) * var_pop(d)
    SELECT estimator, policy_a, policy_b, count(*) AS k, (count(*) - 1) * var_pop(d) AS var_oracle
    FROM jackknife_differences
    GROUP BY ALL
),

tested AS (
    SELECT
        p.estimator, p.policy_a, p.policy_b, p.diff,
        sqrt(i.var_if + o.var_oracle) AS se,
        power(i.var_if + o.var_oracle, 2)
            / (power(i.var_if, 2) / (i.n - 1) + CASE WHEN o.k > 1 THEN power(o.var_oracle, 2) / (o.k - 1) ELSE 0 END)
            AS df,
        i.n
    FROM pairs AS p
    JOIN paired_influence AS i USING (estimator, policy_a, policy_b)
    JOIN oracle_variance AS o USING (estimator, policy_a, policy_b)
),

with_p AS (
    SELECT *, diff / se AS t, 2 * t_sf(abs(diff / se), df) AS p_value
    FROM tested
),

ranked AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY estimator ORDER BY p_value, policy_a, policy_b) AS p_rank,
        count(*) OVER (PARTITION BY estimator) AS m
    FROM with_p
)

SELECT
    policy_a, policy_b, estimator, diff, se, t, df, n, p_value,
    holm(p_value, list(p_value) OVER (PARTITION BY estimator)) AS p_holm,
    least(1, min(m * p_value / p_rank) OVER (
        PARTITION BY estimator ORDER BY p_rank ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)) AS p_bh
FROM ranked
ORDER BY estimator, policy_a, policy_b
