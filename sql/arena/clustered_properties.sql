-- Every behaviour property with its fine and coarse cluster, their names (the namer's label, or
-- the c-TF-IDF keywords where the label names nothing) and keywords, and its place on the 2-D
-- map: what the app's Arena page and the exports show.
SELECT
    p.*,
    c.fine_cluster_id,
    c.coarse_cluster_id,
    c.was_outlier,
    c.x,
    c.y,
    fine.name AS fine_label,
    fine.keywords AS fine_keywords,
    coarse.name AS coarse_label,
    coarse.keywords AS coarse_keywords
FROM arena.behavior_properties AS p
JOIN arena.property_clusters AS c USING (property_id)
LEFT JOIN arena.cluster_labels AS fine
    ON fine.level = 'fine' AND fine.cluster_id = c.fine_cluster_id
LEFT JOIN arena.cluster_labels AS coarse
    ON coarse.level = 'coarse' AND coarse.cluster_id = c.coarse_cluster_id
