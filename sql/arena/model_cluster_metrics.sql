-- Per model and behaviour cluster (fine and coarse levels): in how many of the model's battles it
-- shows the behaviour, that proportion against the other models', and the preference link: the
-- model's win rate in battles where it shows the behaviour vs where it does not.
-- Ties: a tie is neither a win nor a loss; win rates are wins / (wins + losses) and ties are
-- counted beside them. Win rates carry Wilson 95% intervals; the difference is tested with a
-- pooled two-proportion z-test, and p-values are Holm-adjusted across the clusters of one level
-- for one model.
WITH sides AS (
    SELECT battle_id, model_a AS model,
           CASE winner WHEN 'model_a' THEN 'win' WHEN 'model_b' THEN 'loss' ELSE 'tie' END AS outcome
    FROM arena.battles
    UNION ALL
    SELECT battle_id, model_b AS model,
           CASE winner WHEN 'model_b' THEN 'win' WHEN 'model_a' THEN 'loss' ELSE 'tie' END AS outcome
    FROM arena.battles
),

assigned AS (
    SELECT 'fine' AS level, fine_cluster_id AS cluster_id, battle_id, model FROM arena.property_clusters
    UNION ALL
    SELECT 'coarse' AS level, coarse_cluster_id AS cluster_id, battle_id, model FROM arena.property_clusters
),

shown AS (
    SELECT level, cluster_id, battle_id, model, count(*) AS properties
    FROM assigned
    GROUP BY ALL
),

clusters AS (
    SELECT DISTINCT level, cluster_id FROM assigned
),

grid AS (
    SELECT c.level, c.cluster_id, s.battle_id, s.model, s.outcome,
           sh.properties IS NOT NULL AS shows, coalesce(sh.properties, 0) AS properties
    FROM clusters AS c
    CROSS JOIN sides AS s
    LEFT JOIN shown AS sh USING (level, cluster_id, battle_id, model)
),

per_model AS (
    SELECT
        level, cluster_id, model,
        count(*) AS battles,
        count(*) FILTER (WHERE shows) AS battles_with,
        sum(properties) AS properties,
        count(*) FILTER (WHERE shows AND outcome = 'win') AS wins_with,
        count(*) FILTER (WHERE shows AND outcome = 'loss') AS losses_with,
        count(*) FILTER (WHERE shows AND outcome = 'tie') AS ties_with,
        count(*) FILTER (WHERE NOT shows AND outcome = 'win') AS wins_without,
        count(*) FILTER (WHERE NOT shows AND outcome = 'loss') AS losses_without,
        count(*) FILTER (WHERE NOT shows AND outcome = 'tie') AS ties_without
    FROM grid
    GROUP BY ALL
),

with_rates AS (
    SELECT
        *,
        battles_with / battles AS proportion,
        (sum(battles_with) OVER cluster - battles_with) / nullif(sum(battles) OVER cluster - battles, 0)
            AS proportion_others,
        wins_with + losses_with AS decided_with,
        wins_without + losses_without AS decided_without,
        wins_with / nullif(wins_with + losses_with, 0) AS win_rate_with,
        wins_without / nullif(wins_without + losses_without, 0) AS win_rate_without,
        (wins_with + wins_without) / nullif(wins_with + losses_with + wins_without + losses_without, 0)
            AS win_rate_pooled
    FROM per_model
    WINDOW cluster AS (PARTITION BY level, cluster_id)
),

tested AS (
    SELECT
        *,
        proportion - proportion_others AS proportion_delta,
        (win_rate_with - win_rate_without)
            / sqrt(win_rate_pooled * (1 - win_rate_pooled) * (1.0 / decided_with + 1.0 / decided_without))
            AS z
    FROM with_rates
),

with_p AS (
    SELECT *, CASE WHEN isfinite(z) THEN 2 * norm_sf(abs(z)) END AS p_value
    FROM tested
),

ranked AS (
    SELECT
        *,
        row_number() OVER family AS p_rank,
        count(p_value) OVER (PARTITION BY level, model) AS m
    FROM with_p
    WINDOW family AS (PARTITION BY level, model ORDER BY p_value NULLS LAST, cluster_id)
)

SELECT
    r.level, r.cluster_id, l.label AS cluster_label, r.model,
    r.battles, r.battles_with, r.properties,
    r.proportion, r.proportion_others, r.proportion_delta,
    r.wins_with, r.losses_with, r.ties_with, r.wins_without, r.losses_without, r.ties_without,
    r.win_rate_with,
    wilson_low(r.wins_with, r.decided_with) AS win_rate_with_ci_low,
    wilson_high(r.wins_with, r.decided_with) AS win_rate_with_ci_high,
    r.win_rate_without,
    wilson_low(r.wins_without, r.decided_without) AS win_rate_without_ci_low,
    wilson_high(r.wins_without, r.decided_without) AS win_rate_without_ci_high,
    r.z,
    r.p_value,
    CASE WHEN r.p_value IS NOT NULL THEN least(1, max((r.m - r.p_rank + 1) * r.p_value) OVER (
        PARTITION BY r.level, r.model ORDER BY r.p_rank ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) END
        AS p_holm
FROM ranked AS r
LEFT JOIN arena.cluster_labels AS l ON l.level = r.level AND l.cluster_id = r.cluster_id
ORDER BY r.level, r.cluster_id, r.model
