-- The behaviour covariates of the style_behaviours ratings: for each battle the describer read
-- and each fine behaviour cluster either side shows, whether A shows it minus whether B does
-- (+1: A's response only, -1: B's only, 0: both). A battle with no row for a cluster has 0.
WITH presence AS (
    SELECT p.battle_id, p.item AS cluster, p.shows,
           p.model = b.model_a AS is_a
    FROM arena.behaviour_presence AS p
    JOIN arena.battles AS b USING (battle_id)
    WHERE p.family = 'fine' AND p.item <> '-1'
)

SELECT
    battle_id,
    cluster,
    (count(*) FILTER (WHERE is_a AND shows) > 0)::INTEGER
        - (count(*) FILTER (WHERE NOT is_a AND shows) > 0)::INTEGER AS difference
FROM presence
GROUP BY battle_id, cluster
HAVING count(*) FILTER (WHERE shows) > 0
ORDER BY battle_id, cluster
