-- Per policy: how far the importance weights are from usable. ESS = (sum w)^2 / sum w^2 over the
-- valid rows, computed from the log-ratios shifted by their maximum (w^2 overflows a double past a
-- log-ratio of about 355; the shift cancels in the ratio); the share of weight in the top 5% of rows; a Hill estimate of the tail index
-- alpha over the k = max(10, 5% of n) largest weights (alpha < 2: the weights' variance is
-- infinite); for a policy declared identical to the base, the share of weights exactly 1 and
-- the largest deviation from 1.
-- status CRITICAL: total weight 0, or ESS below 1% of n.
-- status WARNING: ESS below 10% of n, alpha < 2, top 5% of rows holding over half the weight,
--                 or a policy declared identical to the base with a weight other than 1.
WITH valid AS (
    SELECT
        policy,
        prompt_id,
        weight,
        log_ratio,
        -- w / max w, from the log-ratio: never overflows (a weight of 0 stays 0)
        CASE WHEN weight = 0 THEN 0 ELSE exp(log_ratio - max(log_ratio) OVER (PARTITION BY policy)) END
            AS scaled_weight
    FROM cje.importance_weights
    WHERE problem IS NULL
),

ranked AS (
    SELECT
        policy,
        scaled_weight,
        log_ratio,
        row_number() OVER (PARTITION BY policy ORDER BY log_ratio DESC) AS weight_rank,
        count(*) OVER (PARTITION BY policy) AS n
    FROM valid
),

tail AS (
    -- Hill: mean log of the k largest weights minus the log of the (k+1)-th (log w = log-ratio)
    SELECT
        policy,
        sum(scaled_weight) FILTER (WHERE weight_rank <= greatest(1, floor(0.05 * n))) AS top5_scaled_weight,
        avg(log_ratio) FILTER (WHERE weight_rank <= least(greatest(10, floor(0.05 * n)), n - 1))
            - max(log_ratio) FILTER (WHERE weight_rank = least(greatest(10, floor(0.05 * n)), n - 1) + 1)
            AS hill_gamma
    FROM ranked
    WHERE isfinite(log_ratio)
    GROUP BY policy
),

flagged AS (
    SELECT policy, count(*) FILTER (WHERE problem IS NOT NULL) AS n_flagged
    FROM cje.importance_weights
    GROUP BY policy
),

summary AS (
    SELECT
        policy,
        count(*) AS n,
        sum(weight) AS sum_weight,
        sum(scaled_weight) AS sum_scaled,
        sum(scaled_weight * scaled_weight) AS sum_scaled_sq,
        avg(weight) AS mean_weight,
        max(weight) AS max_weight,
        count(*) FILTER (WHERE weight > 1000) AS n_weight_above_1000,
        count(*) FILTER (WHERE weight < 0.001) AS n_weight_below_0_001,
        count(*) FILTER (WHERE weight = 0) AS n_weight_zero,
        avg(CASE WHEN weight = 1 THEN 1.0 ELSE 0.0 END) AS share_weight_exactly_one,
        max(abs(weight - 1)) AS max_deviation_from_one
    FROM valid
    GROUP BY policy
),

diagnostics AS (
    SELECT
        p.policy,
        p.declared_identical,
        coalesce(s.n, 0) AS n,
        coalesce(f.n_flagged, 0) AS n_flagged,
        CASE WHEN s.sum_scaled_sq > 0 THEN s.sum_scaled * s.sum_scaled / s.sum_scaled_sq END AS ess,
        CASE WHEN s.sum_scaled_sq > 0 THEN s.sum_scaled * s.sum_scaled / s.sum_scaled_sq / s.n END AS ess_fraction,
        s.mean_weight,
        s.max_weight,
        s.n_weight_above_1000,
        s.n_weight_below_0_001,
        s.n_weight_zero,
        t.top5_scaled_weight / s.sum_scaled AS top5_weight_share,
        CASE WHEN t.hill_gamma > 0 THEN 1 / t.hill_gamma END AS hill_tail_index,
        CASE WHEN p.declared_identical THEN s.share_weight_exactly_one END AS share_weight_exactly_one,
        CASE WHEN p.declared_identical THEN s.max_deviation_from_one END AS max_deviation_from_one,
        coalesce(s.sum_weight, 0) AS sum_weight
    FROM cje.policies AS p
    LEFT JOIN summary AS s USING (policy)
    LEFT JOIN tail AS t USING (policy)
    LEFT JOIN flagged AS f USING (policy)
)

SELECT
    * EXCLUDE (sum_weight),
    CASE
        WHEN sum_weight = 0 OR ess_fraction < 0.01 THEN 'CRITICAL'
        WHEN ess_fraction < 0.10
            OR hill_tail_index < 2
            OR top5_weight_share > 0.5
            OR (declared_identical AND max_deviation_from_one > 0) THEN 'WARNING'
        ELSE 'GOOD'
    END AS status,
    concat_ws('; ',
        CASE WHEN sum_weight = 0 THEN 'total weight is 0' END,
        CASE WHEN ess_fraction < 0.01 THEN 'ESS below 1% of n' END,
        CASE WHEN ess_fraction >= 0.01 AND ess_fraction < 0.10 THEN 'ESS below 10% of n' END,
        CASE WHEN hill_tail_index < 2 THEN 'tail index below 2: infinite-variance weights' END,
        CASE WHEN top5_weight_share > 0.5 THEN 'top 5% of rows hold over half the weight' END,
        CASE WHEN declared_identical AND max_deviation_from_one > 0
            THEN 'declared identical to the base, but some weights are not 1' END
    ) AS reasons
FROM diagnostics
ORDER BY policy
