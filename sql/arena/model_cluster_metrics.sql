-- Per model and behaviour cluster (fine and coarse levels): in how many of the model's battles it
-- shows the behaviour, that proportion against the other models', and the preference link: the
-- model's win rate in battles where it shows the behaviour vs where it does not (Wilson 95%
-- intervals, pooled two-proportion z-test, Holm across the clusters of one level for one model;
-- computed in arena.presence_metrics), with each cluster's name and keywords.
SELECT
    m.family AS level, m.item::INTEGER AS cluster_id, l.name AS cluster_label, l.named_by,
    l.keywords AS cluster_keywords, m.model,
    m.battles, m.battles_with, m.amount AS properties,
    m.proportion, m.proportion_others, m.proportion_delta,
    m.wins_with, m.losses_with, m.ties_with, m.wins_without, m.losses_without, m.ties_without,
    m.win_rate_with, m.win_rate_with_ci_low, m.win_rate_with_ci_high,
    m.win_rate_without, m.win_rate_without_ci_low, m.win_rate_without_ci_high,
    m.z, m.p_value, m.p_holm
FROM arena.presence_metrics AS m
LEFT JOIN arena.cluster_labels AS l ON l.level = m.family AND l.cluster_id = m.item::INTEGER
WHERE m.family IN ('fine', 'coarse') AND m.category = 'all'
ORDER BY level, cluster_id, m.model
