-- Whether each model's response shows each behaviour: one row per family (`fine` and `coarse`
-- behaviour clusters, `style` features), item (cluster id or feature), battle and model, with the
-- battle's outcome for that model. Clusters: a response shows a cluster when the describer gave
-- it a property of the cluster (`amount`: how many). Style (arena.response_style, over its own
-- battles): see analysis/style.py (`amount`: the feature's value). arena.presence_metrics turns
-- this into shares and win-rate links, the same way for every family.
WITH sides AS (
    SELECT battle_id, model_a AS model,
           outcome_of(winner, 'A') AS outcome
    FROM arena.battles
    UNION ALL
    SELECT battle_id, model_b AS model,
           outcome_of(winner, 'B') AS outcome
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

cluster_presence AS (
    SELECT c.level AS family, c.cluster_id::VARCHAR AS item, s.battle_id, s.model, s.outcome,
           sh.properties IS NOT NULL AS shows, coalesce(sh.properties, 0) AS amount
    FROM clusters AS c
    CROSS JOIN sides AS s
    LEFT JOIN shown AS sh USING (level, cluster_id, battle_id, model)
),

style_presence AS (
    SELECT 'style' AS family, feature AS item, battle_id, model, outcome, shows, value AS amount
    FROM arena.response_style
)

SELECT * FROM cluster_presence
UNION ALL
SELECT * FROM style_presence
