-- Every behaviour property with its fine and coarse cluster, their labels and its place on the
-- 2-D map: what the app's Arena page and the exports show.
SELECT
    p.*,
    c.fine_cluster_id,
    c.coarse_cluster_id,
    c.was_outlier,
    c.x,
    c.y,
    fine.label AS fine_label,
    coarse.label AS coarse_label
FROM arena.behavior_properties AS p
JOIN arena.property_clusters AS c USING (property_id)
LEFT JOIN arena.cluster_labels AS fine
    ON fine.level = 'fine' AND fine.cluster_id = c.fine_cluster_id
LEFT JOIN arena.cluster_labels AS coarse
    ON coarse.level = 'coarse' AND coarse.cluster_id = c.coarse_cluster_id
