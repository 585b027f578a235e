-- How well a run recovered the behaviours planted in the fictional arena (dataset `fictional`):
-- per planted model and cluster level, its home cluster (the one holding most of its properties,
-- the lowest id on a tie), that cluster's size, and the share of it that is the model's own;
-- recovered when the share is at least 80%. No rows for a dataset with nothing planted.
-- layer: result
WITH planted_sides AS (
    SELECT
        model_a,
        model_b,
        -- cast: a dataset with nothing planted stores the column as all NULL, of no text type
        unnest(json_extract_string(CAST(planted_properties AS VARCHAR), '$[*].model')) AS side
    FROM arena.battles
    WHERE planted_properties IS NOT NULL
),

planted_models AS (
    SELECT DISTINCT CASE side WHEN 'A' THEN model_a ELSE model_b END AS model
    FROM planted_sides
),

members AS (
    SELECT model, 'fine' AS level, fine_cluster_id AS cluster_id FROM arena.clustered_properties
    UNION ALL
    SELECT model, 'coarse' AS level, coarse_cluster_id AS cluster_id FROM arena.clustered_properties
),

per_cluster AS (
    SELECT level, cluster_id, model, count(*) AS properties
    FROM members
    GROUP BY ALL
),

cluster_sizes AS (
    SELECT level, cluster_id, sum(properties) AS home_size
    FROM per_cluster
    GROUP BY ALL
),

homes AS (
    SELECT
        model,
        level,
        cluster_id AS home_cluster,
        properties AS in_home,
        sum(properties) OVER (PARTITION BY model, level) AS properties,
        row_number() OVER (PARTITION BY model, level ORDER BY properties DESC, cluster_id) AS rank
    FROM per_cluster
)

SELECT
    planted.model,
    levels.level,
    coalesce(homes.properties, 0) AS properties,
    homes.home_cluster,
    coalesce(sizes.home_size, 0) AS home_size,
    coalesce(homes.in_home / sizes.home_size, 0.0) AS share,
    coalesce(homes.in_home / sizes.home_size, 0.0) >= 0.8 AS recovered
FROM planted_models AS planted
CROSS JOIN (VALUES ('fine'), ('coarse')) AS levels (level)
LEFT JOIN homes
    ON homes.model = planted.model AND homes.level = levels.level AND homes.rank = 1
LEFT JOIN cluster_sizes AS sizes
    ON sizes.level = levels.level AND sizes.cluster_id = homes.home_cluster
ORDER BY planted.model, levels.level DESC
